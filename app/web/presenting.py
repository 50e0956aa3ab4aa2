"""Pure helpers that shape search results for the pages: query clauses for facet clicks,
histogram geometry, an event's fields as rows, the columns a person chose. No Flask here."""

from __future__ import annotations

from dataclasses import dataclass

from ..events.convert import format_ts
from ..events.schema import get_path
from ..query import QueryError
from ..query.fields import resolve
from ..query.quoting import quote

DEFAULT_COLUMNS = ("@timestamp", "log.level", "event.component", "event.type", "service.name", "actor.id", "message")
CHOOSABLE_COLUMNS = (
    "@timestamp",
    "log.level",
    "event.component",
    "event.type",
    "event.action",
    "event.outcome",
    "service.name",
    "host.name",
    "actor.type",
    "actor.id",
    "actor.name",
    "actor.email",
    "target.id",
    "correlation.id",
    "session.id",
    "payment.transaction_id",
    "payment.amount",
    "payment.currency",
    "game.provider",
    "integration.provider",
    "integration.status",
    "http.request.method",
    "url.path",
    "http.response.status_code",
    "http.duration",
    "error.type",
    "message",
)
PAGE_FACETS = (
    "event.component",
    "log.level",
    "event.type",
    "event.outcome",
    "service.name",
    "integration.provider",
    "actor.type",
)


def clause(field: str, value, exclude: bool = False) -> str:
    return f"{'-' if exclude else ''}{field}:{quote(value)}"


def with_clause(q: str, field: str, value, exclude: bool = False) -> str:
    """`q` narrowed to (or excluding) field = value; a clause already there is not added twice,
    and choosing the opposite of an existing clause replaces it."""
    wanted, opposite = clause(field, value, exclude), clause(field, value, not exclude)
    q = q.strip()
    if opposite in q.split(" "):
        q = " ".join(part for part in q.split(" ") if part != opposite)
    if wanted in q.split(" "):
        return q
    return f"{q} {wanted}".strip()


def without_clause(q: str, field: str, value) -> str:
    drop = {clause(field, value), clause(field, value, True)}
    return " ".join(part for part in q.strip().split(" ") if part not in drop)


def columns(raw: str | None) -> tuple[str, ...]:
    """The columns asked for (`cols=a,b`), known fields only; the defaults otherwise."""
    if not raw:
        return DEFAULT_COLUMNS
    chosen = []
    for name in raw.split(","):
        name = name.strip()
        if not name or name in chosen:
            continue
        try:
            resolve(name)
        except QueryError:
            continue
        chosen.append(name)
    return tuple(chosen[:12]) or DEFAULT_COLUMNS


def cell(event: dict, name: str) -> str:
    value = get_path(event, name)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@dataclass
class Bar:
    start_ms: int
    end_ms: int
    count: int
    x: float
    height: float  # percent of the chart's height
    label: str


def bars(buckets: list, width_ms: int) -> list[Bar]:
    """Histogram bars in a 0..len x 0..100 box (the SVG's viewBox), tallest = 100."""
    top = max((b.count for b in buckets), default=0) or 1
    return [
        Bar(
            b.start_ms,
            b.start_ms + width_ms,
            b.count,
            i,
            100 * b.count / top,
            f"{format_ts(b.start_ms)}: {b.count:,} events",
        )
        for i, b in enumerate(buckets)
    ]


def flatten(event: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Every field of the event as (dotted name, display value), in a stable order."""
    rows: list[tuple[str, str]] = []
    for key in sorted(event):
        if key.startswith("_"):
            continue
        value = event[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += flatten(value, name + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value):  # e.g. changes: one row group per changed field
                rows += flatten(item, f"{name}[{i}].")
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, "" if value is None else str(value)))
    return rows
