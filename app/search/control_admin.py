"""Admin Operations, the control view of employees' work in the back office (app/search/control.py
has the others): their operations newest first, each with its changes as before/after rows, the
values of personal fields (e-mail, phone, name…) masked for readers who may not see personal data.
No Flask here."""

from __future__ import annotations

import re

from ..storage import LogStore
from .control import LIST_SIZE
from .figures import TOTAL_BOUND, facet_note, facet_rows
from .masking import mask_value
from .window import Scope, Window

ADMIN_QUERY = "event.component:admin_action AND NOT event.type:access"
# change values of these fields are personal data whatever the event's schema says
PERSONAL_CHANGE_PARTS = ("email", "e-mail", "phone", "address", "iban", "birth", "password", "mobile")
PERSONAL_CHANGE_WORDS = {"name", "ip", "card", "pan", "surname", "dob", "ssn"}


# -- 4. Admin Operations -------------------------------------------------------------------


def admin_operations(
    store: LogStore, scope: Scope, window: Window, *, sees_personal: bool, size: int = LIST_SIZE, cursor: str | None = None
) -> dict:
    """Employees' operations in the back office (never the reading trail), newest first, each
    with its changes as before/after rows."""
    request = window.request(
        ADMIN_QUERY, size=size, cursor=cursor, facets=("actor.id", "event.action"), facet_size=15, total_bound=TOTAL_BOUND
    )
    result = store.search(scope(request))
    operations = [{"event": e, "changes": change_rows(e, sees_personal)} for e in result.hits]
    return {
        "result": result,
        "operations": operations,
        "total": result.total,
        "total_exact": result.total_exact,
        "facets": {n: facet_rows(result, n) for n in request.facets},
        "facet_notes": facet_note(result),
        "next_cursor": result.next_cursor,
        "query": window.text(ADMIN_QUERY),
        "link": window.link(ADMIN_QUERY),
    }


def change_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(change_text(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={change_text(v)}" for k, v in value.items())
    return str(value)


def personal_change(field: str) -> bool:
    """A change of personal data: e-mail, phone, address… anywhere in the name; name, ip,
    card… as words of it (deposit_limit is not, first_name and new_email are)."""
    name = field.lower()
    words = set(re.split(r"[^a-z0-9]+", name))
    return any(word in name for word in PERSONAL_CHANGE_PARTS) or bool(words & PERSONAL_CHANGE_WORDS)


def change_rows(event: dict, sees_personal: bool) -> list[dict]:
    """`changes` as rows {field, before, after, masked}: {field, old, new} (the schema's names)
    or {field, from, to}. Values of personal fields (e-mail, phone, name…) are masked for
    readers who may not see personal data."""
    raw = event.get("changes")
    if isinstance(raw, dict):
        raw = [raw]
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        field = str(item.get("field", ""))
        before = item.get("old", item.get("from"))
        after = item.get("new", item.get("to"))
        masked = not sees_personal and personal_change(field)
        if masked:
            kind = "actor.email" if "mail" in field.lower() else "actor.name"
            before = None if before is None else mask_value(kind, change_text(before))
            after = None if after is None else mask_value(kind, change_text(after))
        rows.append(
            {
                "field": field,
                "before": change_text(before),
                "after": change_text(after),
                "has_before": "old" in item or "from" in item,
                "has_after": "new" in item or "to" in item,
                "masked": masked,
            }
        )
    return rows
