"""What a reader may see, and the record of what they read.

Every read endpoint goes through here: `stream()` picks the store (the events, or the reading
trail — its own stream — for roles with `reading_trail`); `shown()` masks personal fields for
roles without `see_personal`; `record_*()` write the reading trail (who, query, how many rows).

The trail fails closed: a read whose record is not stored is not answered (audit.NotRecorded: a
JSON 503 from the API, a page saying so from the back office). Record before the answer leaves."""

from __future__ import annotations

from dataclasses import replace

from flask import current_app, render_template

from .. import audit
from ..auth import may
from ..errors import RETRY_AFTER_S, ApiError
from ..search.masking import exact_only, is_personal, mask_event, masked_facet
from ..storage import SearchRequest
from . import web


def sees_trail() -> bool:
    return may("reading_trail")


def sees_personal() -> bool:
    return may("see_personal")


def stream(name: str | None):
    """The store a read goes to: "trail" is the reading trail (403 without `reading_trail`)."""
    services = current_app.extensions["platlogs"]
    if name in (None, "", "events"):
        return services.store
    if name != "trail":
        raise ApiError(400, "stream: events or trail", field="stream")
    if not sees_trail():
        raise ApiError(403, "the reading trail is shown to security, auditors and administrators only")
    return services.trail


def scoped(request: SearchRequest) -> SearchRequest:
    """The request as the current reader may run it: every read goes through here. A role without
    `see_personal` searches personal fields by exact value only (QueryError, 400, otherwise), and
    a bare term finds a personal value by its whole value only (not by a word or prefix of it)."""
    if not sees_personal():
        exact_only(request.query)
        return replace(request, inside_personal=False)
    return request


def visible(event: dict | None) -> dict | None:
    return event


def shown(event: dict) -> dict:
    return event if sees_personal() else mask_event(event)


def shown_all(events: list[dict]) -> list[dict]:
    return events if sees_personal() else [mask_event(e) for e in events]


def shown_facets(facets: dict) -> dict:
    """Facet values of personal fields are masked too, rows that mask alike merged."""
    if sees_personal():
        return facets
    return {name: masked_facet(name, values) if is_personal(name) else values for name, values in facets.items()}


def record_search(kind: str, q: str, request: SearchRequest, rows: int, total: int | None = None, **extra) -> None:
    """One line of the reading trail for a search (`kind`: search, view, timeline, context, tail…)."""
    who = audit.actor()
    audit.record(
        kind,
        f"{who.get('name', who['id'])} {kind}: {q or '(all events)'} ({rows} rows)",
        who=who,
        labels={"q": q, "from": request.start_ms, "to": request.end_ms, "rows": rows, "total": total, **extra},
        required=True,
    )


def record_view(event_id: str) -> None:
    who = audit.actor()
    audit.record(
        "view",
        f"{who.get('name', who['id'])} viewed event {event_id}",
        who=who,
        labels={"event_id": event_id},
        required=True,
    )


def record_reveal(event_id: str, field: str, reason: str) -> None:
    who = audit.actor()
    audit.record(
        "reveal",
        f"{who['name']} revealed {field} of event {event_id}: {reason}",
        who=who,
        labels={"event_id": event_id, "field": field, "reason": reason},
        required=True,
    )


@web.errorhandler(audit.NotRecorded)
def _not_recorded(exc: audit.NotRecorded):
    """A back-office page whose read was not recorded: a page saying so, nothing of the data."""
    return render_template("not_recorded.html", message=exc.message), 503, {"Retry-After": RETRY_AFTER_S}
