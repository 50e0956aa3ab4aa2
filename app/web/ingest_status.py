"""Ingest status (operations): the page /ingest/status and its JSON /api/v1/ingest/status.
Thin: parse, call app/ingest/status.py (which `platlogs ingest-status` calls too), render."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request

from ..auth import api_access, page_access
from ..errors import ApiError
from ..ingest.status import TOP_SOURCES, ingest_status, lag_text
from ..search.figures import duration_text
from . import web
from .api import api

MAX_TOP = 200


def _top() -> int:
    raw = request.args.get("top", "").strip()
    if not raw:
        return TOP_SOURCES
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise ApiError(400, f"top: a whole number from 1 to {MAX_TOP}", field="top")
    return int(raw)


def _status() -> dict:
    services = current_app.extensions["platlogs"]
    return ingest_status(services.settings.data_dir, stats=services.ingest_stats, top=_top())


@api.get("/ingest/status")
@api_access("read", "view_ingest")
def ingest_status_json():
    """Counters of every ingest protocol and source, summed over the server's processes."""
    return jsonify(_status())


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


@web.get("/ingest/status", endpoint="ingest_status")
@page_access("view_ingest")
def ingest_status_page():
    return render_template(
        "ingest_status.html",
        s=_status(),
        lag_text=lag_text,
        size_text=size_text,
        age_text=lambda s: "—" if s is None else duration_text(max(s, 0) * 1000),
    )
