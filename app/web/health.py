"""Integration health: the manager's dashboard (/health: one tile per provider, grouped by kind,
worst first), a provider's page (/health/<provider>: charts over time, incidents, uptime against
its SLO) and their JSON API (/api/v1/integrations/health...). Thin: parse, call
app/integrations/service.py, render. The engineers' table stays at /integrations."""

from __future__ import annotations

import time

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import api_access, page_access
from ..errors import ApiError
from ..events.convert import format_ts
from ..integrations import service
from ..integrations.compute import STATUSES
from ..query import QueryError
from ..query.timeexpr import parse_time
from ..search.figures import duration_text, ms_text, share_text
from . import reading, web
from .api import api

RANGES = (("now-24h", "24 hours"), ("now-7d", "7 days"), ("now-30d", "30 days"), ("now-90d", "90 days"))
DEFAULT_FROM = "now-7d"
CALLS, FAILED = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion (as charts.js's palette)


def _services():
    return current_app.extensions["platlogs"]


def _now() -> int:
    return int(time.time() * 1000)


def _range(args, now_ms: int) -> tuple[int, int, str, str]:
    """[from, to) of the request (default the last 7 days, at most 90 days); ApiError 400."""
    raw_from = (args.get("from") or "").strip() or DEFAULT_FROM
    raw_to = (args.get("to") or "").strip()
    try:
        start = parse_time(raw_from, now_ms, "from")
        end = parse_time(raw_to, now_ms, "to") if raw_to else now_ms
    except QueryError as exc:
        raise ApiError(400, str(exc), field=getattr(exc, "field", None)) from None
    end = min(end, now_ms)  # nothing to say about the future
    if start >= end:
        raise ApiError(400, "from: must be before to (and before now)", field="from")
    if end - start > service.MAX_RANGE_MS:
        raise ApiError(400, "from: a range of at most 90 days", field="from")
    return start, end, raw_from, raw_to


def _name(provider: str) -> str:
    if not provider or len(provider) > 256 or "\x00" in provider:
        raise ApiError(404, "no such provider")
    return provider


def _detail(provider: str, args=None):
    s = _services()
    now = _now()
    start, end, raw_from, raw_to = _range(request.args if args is None else args, now)
    found = service.detail(s.store, s.meta, _name(provider), start, end, now, reading.scoped)
    if found is None:
        raise ApiError(404, f"no calls to or from a provider named {provider!r} in the store")
    return found, raw_from, raw_to


def _helpers() -> dict:
    return {
        "duration_text": duration_text,
        "ms_text": ms_text,
        "share_text": share_text,
        "format_ts": format_ts,
        "statuses": STATUSES,
    }


def _spark(week_start_ms: int):
    def spec(tile: dict) -> dict:
        points = tile["spark"]
        return {
            "kind": "sparkline",
            "height": 40,
            "x": [week_start_ms + i * service.HOUR_MS for i in range(len(points))],
            "series": [
                {"label": "calls", "values": [p["calls"] for p in points], "colour": CALLS},
                {"label": "failures", "values": [p["failures"] for p in points], "colour": FAILED},
            ],
        }

    return spec


def _charts(d: dict) -> list[dict]:
    x = [p["t"] for p in d["chart"]]
    step = duration_text(d["step_ms"])
    return [
        {
            "caption": f"Calls per {step}: answered and failed",
            "spec": {
                "kind": "stacked",
                "x": x,
                "unit": "calls",
                "series": [
                    {"label": "failed", "values": [p["failures"] for p in d["chart"]], "colour": FAILED},
                    {"label": "answered", "values": [p["calls"] - p["failures"] for p in d["chart"]], "colour": CALLS},
                ],
            },
        },
        {
            "caption": f"Failure rate per {step} (%)",
            "spec": {
                "kind": "line",
                "x": x,
                "unit": "%",
                "max": 100,
                "series": [
                    {
                        "label": "failed",
                        "colour": FAILED,
                        "values": [None if p["rate"] is None else round(100 * p["rate"], 2) for p in d["chart"]],
                    }
                ],
            },
        },
        {
            "caption": f"Latency per {step} (ms)",
            "spec": {
                "kind": "line",
                "x": x,
                "unit": "ms",
                "series": [{"label": q, "values": [p[q] for p in d["chart"]]} for q in ("p50", "p95", "p99")],
            },
        },
    ]


# -- pages ------------------------------------------------------------------------------------


@web.get("/health")
@page_access("view_integrations")
def health():
    s = _services()
    figures = service.overview(s.store, s.meta, _now(), reading.scoped)
    return render_template("health/index.html", f=figures, spark=_spark(figures["week_start_ms"]), **_helpers())


@web.get("/health/<path:provider>")
@page_access("view_integrations")
def health_provider(provider: str):
    error = None
    try:
        _range(request.args, _now())
    except ApiError as exc:  # a bad range is said on the page, over the default range
        error = exc.message
    d, raw_from, raw_to = _detail(provider, {} if error else None)
    if error:
        raw_from, raw_to = (request.args.get("from") or "")[:100], (request.args.get("to") or "")[:100]
    return render_template(
        "health/provider.html",
        d=d,
        raw_from=raw_from,
        raw_to=raw_to,
        ranges=RANGES,
        charts=_charts(d),
        error=error,
        **_helpers(),
    ), 400 if error else 200


@web.post("/health/<path:provider>/annotation")
@page_access("annotate_providers")
def health_annotate(provider: str):
    form = request.form
    s = _services()
    if _name(provider) not in {p.name for p in service.providers(s.store, s.meta, reading.scoped)}:
        raise ApiError(404, f"no provider named {provider!r} in the store")
    try:
        service.annotate(
            _services().meta,
            _name(provider),
            {
                "owner": form.get("owner", ""),
                "slo_target": form.get("slo_target", ""),
                "quiet_at_night": form.get("quiet_at_night") == "on",
                "note": form.get("note", ""),
            },
            current_user.username,
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    flash(f"Saved what you said about {provider}.")
    return redirect(url_for("web.health_provider", provider=provider))


# -- JSON -------------------------------------------------------------------------------------


@api.get("/integrations/health")
@api_access("read", "view_integrations")
def health_json():
    s = _services()
    return jsonify(service.overview(s.store, s.meta, _now(), reading.scoped))


@api.get("/integrations/health/<path:provider>")
@api_access("read", "view_integrations")
def health_provider_json(provider: str):
    return jsonify(_detail(provider)[0])


@api.put("/integrations/health/<path:provider>/annotation")
@api_access("read", "annotate_providers")
def health_annotate_json(provider: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object {owner, slo_target, quiet_at_night, note}")
    known = {p.name for p in service.providers(_services().store, _services().meta, reading.scoped)}
    if _name(provider) not in known:
        raise ApiError(404, f"no provider named {provider!r} in the store")
    who = current_user.username if current_user.is_authenticated else "api-key"
    try:
        return jsonify(service.annotate(_services().meta, provider, body, who))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
