"""Search, context, timeline, export and saved-search API. Thin: parse, call the service, answer."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context
from flask_login import current_user

from .. import audit
from ..auth import api_access
from ..errors import ApiError
from ..events.convert import format_ts
from ..meta import accounts
from ..query.quoting import term
from ..search import masking, service, suggest
from ..search.params import search_params
from ..storage import SearchResult
from . import reading

api = Blueprint("search_api", __name__, url_prefix="/api/v1")
MAX_EXPORT_ROWS = 10_000_000


def _services():
    return current_app.extensions["platlogs"]


def _earliest() -> int | None:
    return service.earliest_ms(_services().store)


def result_json(params, result: SearchResult) -> dict:
    """The search answer, as the current reader may see it (personal fields masked by role)."""
    selected = params.selected
    req = params.request
    body = {
        "query": {
            "q": params.q,
            "from": format_ts(req.start_ms) if req.start_ms is not None else None,
            "to": format_ts(req.end_ms),
            "order": "desc" if req.newest_first else "asc",
        },
        "total": {"value": result.total, "exact": result.total_exact},
        "hits": reading.shown_all(result.hits),
        "next_cursor": result.next_cursor,
        "facets": reading.shown_facets(
            {
                name: [
                    {"value": v.value, "count": v.count, "selected": (name, str(v.value)) in selected} for v in facet.values
                ]
                for name, facet in result.facets.items()
            }
        ),
        "facet_status": {
            name: "timed_out" if f.timed_out else "approximate" if f.approximate else "exact"
            for name, f in result.facets.items()
        },
    }
    if req.histogram_ms:
        body["histogram"] = {
            "interval_ms": req.histogram_ms,
            "timed_out": result.histogram_timed_out,
            "buckets": [
                {"start": format_ts(b.start_ms), "start_ms": b.start_ms, "count": b.count} for b in result.histogram
            ],
        }
    return body


@api.get("/search")
@api_access("read")
def search():
    params = search_params(request.args, earliest=_earliest)
    result = reading.stream(request.args.get("stream")).search(reading.scoped(params.request))
    reading.record_search("search", params.q, params.request, len(result.hits), result.total)
    return jsonify(result_json(params, result))


@api.get("/suggest")
@api_access("read")
def suggestions():
    """The query box's autocomplete: `?prefix=` field names holding it; `?field=…&prefix=…&from=…&to=…`
    that field's top values in the time range, as the reader may see them (recorded in the trail)."""
    args = request.args
    prefix = args.get("prefix", "")
    if not args.get("field"):
        return jsonify({"fields": [f.as_dict() for f in suggest.field_names(prefix)]})
    params = search_params({"from": args.get("from", "now-24h"), "to": args.get("to", "")})
    found = suggest.top_values(
        reading.stream(args.get("stream")),
        args["field"],
        prefix,
        params.request,
        sees_personal=reading.sees_personal(),
        scope=reading.scoped,
    )
    reading.record_search(
        "suggest", f"top values of {found['field']}", params.request, len(found["values"]), field=found["field"]
    )
    return jsonify(found)


@api.get("/events/<event_id>/context")
@api_access("read")
def event_context(event_id: str):
    before = _bounded(request.args, "before", 10, 0, 500)
    after = _bounded(request.args, "after", 10, 0, 500)
    found = service.context(_services().store, event_id, request.args.get("by") or None, before, after, scope=reading.scoped)
    if found is None or reading.visible(found["event"]) is None:
        raise ApiError(404, f"no event with id {event_id!r}")
    reading.record_view(event_id)
    for side in ("before", "after"):
        found[side] = reading.shown_all(found[side])
    found["event"] = reading.shown(found["event"])
    if found["by"] and not reading.sees_personal() and masking.is_personal(found["by"]):
        found["value"] = masking.mask_value(found["by"], found["value"])
    return jsonify(found)


@api.get("/timeline")
@api_access("read", "view_timeline")
def timeline():
    by, value = request.args.get("by", ""), request.args.get("value", "")
    if not by or not value:
        raise ApiError(400, "timeline needs by=<field> and value=<value>, e.g. by=payment.transaction_id&value=tx-…")
    args = {k: v for k, v in request.args.items() if k not in ("by", "value", "q")}
    params = search_params(args, default_size=500, earliest=_earliest)
    gap = _bounded(request.args, "gap_seconds", 300, 1, 86_400 * 30) * 1000
    found = service.timeline(_services().store, by, value, params.request, gap, scope=reading.scoped)
    reading.record_search("timeline", term(by, value), params.request, len(found["entries"]), found["total"])
    for entry in found["entries"]:
        entry["event"] = reading.shown(entry["event"])
    if not reading.sees_personal() and masking.is_personal(by):
        found["value"] = masking.mask_value(by, value)
    return jsonify(found)


@api.get("/export")
@api_access("read", "export")
def export():
    fmt = request.args.get("format", "ndjson")
    if fmt not in ("csv", "ndjson"):
        raise ApiError(400, "format: csv or ndjson")
    fields = service.export_fields(request.args.get("fields"))
    params = search_params(request.args, earliest=_earliest)
    limit = _bounded(request.args, "limit", MAX_EXPORT_ROWS, 1, MAX_EXPORT_ROWS)
    services = _services()
    who = audit.actor()
    scoped, personal = reading.scoped(params.request), reading.sees_personal()  # decided now, not mid-stream
    counter = [0]
    labels = {
        "q": params.q,
        "format": fmt,
        "fields": ",".join(fields),
        "limit": limit,
        "from": params.request.start_ms,
        "to": params.request.end_ms,
    }
    # fail closed: the export is in the trail before its first byte leaves (503 when it cannot be)
    audit.record(
        "export",
        f"{who['name']} exports: {params.q or '(all events)'}",
        who=who,
        services=services,
        labels=labels,
        required=True,
    )

    def body():
        try:
            events = service.iter_events(services.store, scoped, limit)
            yield from service.export_chunks(events if personal else map(masking.mask_event, events), fmt, fields, counter)
        finally:  # also when the client goes away: how many rows were sent
            audit.record(
                "export_finished",
                f"{who['name']} exported {counter[0]} events: {params.q or '(all events)'}",
                who=who,
                services=services,
                labels={**labels, "rows": counter[0]},
            )

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    filename = f"platlogs-export-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.{fmt}"
    chunks = body()
    first = next(chunks, b"")  # the first page now: a query the store refuses is a 400, not a cut-off 200

    def rest():
        yield first
        yield from chunks

    return Response(
        stream_with_context(rest()), mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# -- saved searches ---------------------------------------------------------------------


def _user():
    if getattr(g, "api_key", None) is not None or not current_user.is_authenticated:
        raise ApiError(403, "saved searches belong to signed-in users, not to API keys")
    return current_user


@api.get("/saved-searches")
@api_access("read", "saved_searches")
def saved_searches():
    return jsonify([s.as_dict() for s in accounts.saved_searches(_services(), _user())])


@api.post("/saved-searches")
@api_access("read", "saved_searches")
def save_search():
    user = _user()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object {name, q, from, to, shared_role}")
    for name in ("name", "q", "from", "to", "shared_role"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ApiError(400, f"{name}: a string", field=name)
    q = body.get("q") or ""
    search_params({"q": q, "from": body.get("from") or "", "to": body.get("to") or ""})  # validate now
    try:
        row = accounts.save_search(
            _services(), user, str(body.get("name", "")), q, body.get("from"), body.get("to"), body.get("shared_role")
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(row.as_dict()), 201


@api.delete("/saved-searches/<int:search_id>")
@api_access("read", "saved_searches")
def delete_saved_search(search_id: int):
    if not accounts.delete_saved_search(_services(), _user(), search_id):
        raise ApiError(404, "no such saved search of yours")
    return "", 204


# -- helpers ------------------------------------------------------------------------------


def _bounded(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    try:
        value = default if raw in (None, "") else int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}: between {low} and {high}")
    return value
