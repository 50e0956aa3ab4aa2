"""Investigations over the store: surrounding events, timelines, streamed exports."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson

from ..events.failures import is_failure
from ..events.schema import get_path
from ..query.ast import MatchAll, Node, Or, QueryError, Term
from ..query.fields import NAMESPACE, resolve
from ..query.parser import exact_term
from ..query.timeexpr import parse_time
from ..storage import LogStore, SearchRequest

# Keys that tie events of one story together, in the order the UI offers them.
STORY_KEYS = ("correlation.id", "actor.id", "target.id", "session.id", "game.round_id", "payment.transaction_id", "trace.id")
DEFAULT_EXPORT_FIELDS = (
    "@timestamp",
    "event.id",
    "event.component",
    "event.type",
    "event.action",
    "event.outcome",
    "log.level",
    "service.name",
    "actor.id",
    "target.id",
    "correlation.id",
    "message",
)
EXPORT_PAGE = 1000
MAX_EXPORT_FIELDS = 200


def earliest_ms(store: LogStore) -> int | None:
    """The start of the oldest stored partition (None for an empty store). Not cheap: on the
    embedded store it opens every partition; ask only when needed (search_params' `earliest`)."""
    parts = store.partitions()
    return parts[0].start_ms if parts else None


def key_query(by: str, value: str) -> Node:
    """The events sharing one key. `player` means the player acting or acted upon."""
    if by == "player":
        return Or((Term("actor.id", value), Term("target.id", value)))
    info = resolve(by)
    if info.type in (NAMESPACE, "text", "changes"):
        raise QueryError(f"by: {by} is not a key; use one of {', '.join(STORY_KEYS)}", field="by")
    try:
        return exact_term(by, value)  # the value checked as in a query: 1e400 is no status code
    except QueryError as exc:
        raise QueryError(f"value: {exc.message}", field="value") from None


def context(
    store: LogStore, event_id: str, by: str | None, before: int, after: int, scope=lambda request: request
) -> dict | None:
    """The event, and its neighbours in time — among all events, or among those sharing `by`.
    `scope` narrows each search to what the reader may see."""
    found = store.locate(event_id)
    if found is None:
        return None
    event, cursor_asc, cursor_desc = found
    query: Node = MatchAll()
    value = None
    if by:
        value = get_path(event, by)
        if value is None or isinstance(value, (dict, list)):
            raise QueryError(f"by: this event has no {by}", field="by")
        query = key_query(by, str(value))
    older = store.search(
        scope(SearchRequest(query=query, cursor=cursor_desc, newest_first=True, size=before, total_bound=0))
    )
    newer = store.search(scope(SearchRequest(query=query, cursor=cursor_asc, newest_first=False, size=after, total_bound=0)))
    return {
        "event": event,
        "by": by,
        "value": value,
        "before": list(reversed(older.hits)),
        "after": newer.hits,
        "keys": {k: get_path(event, k) for k in STORY_KEYS if get_path(event, k) is not None},
    }


def timeline(
    store: LogStore, by: str, value: str, request: SearchRequest, gap_ms: int, scope=lambda request: request
) -> dict:
    """Everything that happened to one player, session, round or transaction, oldest first, each
    entry marked with the time since the previous one and whether it failed."""
    result = store.search(
        scope(replace(request, query=key_query(by, value), newest_first=False, facets=("event.component",)))
    )
    entries, previous = [], None
    for event in result.hits:
        ts = parse_time(event["@timestamp"], 0)
        entry: dict[str, Any] = {"event": event, "failure": is_failure(event), "gap_ms": None, "gap": False}
        if previous is not None:
            entry["gap_ms"] = ts - previous
            entry["gap"] = entry["gap_ms"] >= gap_ms
        entries.append(entry)
        previous = ts
    components = {f.value: f.count for f in result.facets["event.component"].values}
    return {
        "by": by,
        "value": value,
        "total": result.total,
        "total_exact": result.total_exact,
        "components": components,
        "failures": sum(e["failure"] for e in entries),
        "entries": entries,
        "next_cursor": result.next_cursor,
    }


def iter_events(store: LogStore, request: SearchRequest, limit: int) -> Iterator[dict]:
    """Every matching event, page by page (cursor paging: steady under concurrent ingest)."""
    page = replace(request, size=min(EXPORT_PAGE, limit), facets=(), histogram_ms=None, total_bound=0)
    sent = 0
    while True:
        result = store.search(page)
        for event in result.hits:
            if sent >= limit:
                return
            yield event
            sent += 1
        if result.next_cursor is None:
            return
        page = replace(page, cursor=result.next_cursor)


def safe_cell(value) -> str:
    """A CSV cell that spreadsheets will not run as a formula: one starting with = + - @ (or their
    fullwidth and small forms, or a minus sign), or with whitespace, a line break, a control or an
    invisible format character (a spreadsheet may skip those and run what follows) gets a `'`."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return "'" + text if text and _runnable_start(text[0]) else text


_FORMULA_STARTS = frozenset("=+-@\u2212")
_INVISIBLE_CATEGORIES = frozenset(("Zs", "Zl", "Zp", "Cc", "Cf"))


def _runnable_start(first: str) -> bool:
    return (
        first in _FORMULA_STARTS
        or unicodedata.normalize("NFKC", first)[:1] in _FORMULA_STARTS
        or unicodedata.category(first) in _INVISIBLE_CATEGORIES
    )


def export_fields(raw: str | None) -> tuple[str, ...]:
    """The fields an export writes (`fields=a,b,c`; the default set when empty), each a field the
    query language knows (QueryError naming `fields` otherwise)."""
    fields = tuple(f.strip() for f in (raw or "").split(",") if f.strip())
    if len(fields) > MAX_EXPORT_FIELDS:
        raise QueryError(f"fields: at most {MAX_EXPORT_FIELDS}", field="fields")
    for name in fields:
        try:
            resolve(name)
        except QueryError as exc:
            raise QueryError(f"fields: {exc.message}", field="fields") from None
    return fields or DEFAULT_EXPORT_FIELDS


def export_chunks(events: Iterator[dict], fmt: str, fields: tuple[str, ...], counter: list) -> Iterator[bytes]:
    """The export body in chunks; `counter[0]` holds the rows written so far."""
    if fmt == "ndjson":
        buffer = bytearray()
        for event in events:
            buffer += orjson.dumps(event) + b"\n"
            counter[0] += 1
            if len(buffer) > 1 << 16:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)
        return
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(f) for f in fields])
    for event in events:
        writer.writerow([safe_cell(get_path(event, f)) for f in fields])
        counter[0] += 1
        if out.tell() > 1 << 16:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
