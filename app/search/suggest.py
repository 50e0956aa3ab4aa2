"""Suggestions for the query box: field names, and a field's most frequent values.

Values are counted like the search page's facets (the same store search, narrowed by the
reader's `scope`), and the policy on personal data is the one of masking.py: for a reader who
sees personal fields masked, a personal field's values come back masked (rows that mask alike
merged) and a typed prefix does not narrow them — narrowing would tell masked values apart a
character at a time, which `exact_only` refuses in queries for the same reason."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from ..query.ast import MatchAll, Node, Or, Prefix, QueryError
from ..query.fields import NAMESPACE, known_fields, resolve
from ..storage import LogStore, SearchRequest
from . import masking

MAX_FIELDS = 30
MAX_VALUES = 10
SCAN_VALUES = 100  # values counted per request, then filtered by the typed prefix
BUDGET_MS = 800  # a suggestion that takes longer is answered with what was counted (or nothing)
MAX_PREFIX = 200
NOT_COUNTABLE = (NAMESPACE, "text", "changes")


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    personal: bool
    values: bool  # whether the field has value suggestions (keyword, number, ip… not words)

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "personal": self.personal, "values": self.values}


@lru_cache(maxsize=1)
def _all_fields() -> tuple[FieldInfo, ...]:
    return tuple(
        sorted(
            (
                FieldInfo(f.name, f.type, masking.is_personal(f.name), f.type not in NOT_COUNTABLE)
                for f in known_fields().values()
                if f.type != NAMESPACE
            ),
            key=lambda f: f.name,
        )
    )


def field_names(prefix: str = "", limit: int = MAX_FIELDS) -> list[FieldInfo]:
    """Known fields whose name holds `prefix` (case ignored): those starting with it first, then
    those with a part starting with it (`ip` finds actor.ip), then the rest, each by name. Without
    a prefix, every field (the page fetches them once and filters as one types)."""
    typed = prefix.strip().lower()[:MAX_PREFIX]
    if not typed:
        return list(_all_fields())

    def rank(f: FieldInfo) -> int:
        name = f.name.lower()
        if name.startswith(typed):
            return 0
        if any(part.startswith(typed) for part in name.replace("_", ".").split(".")):
            return 1
        return 2

    found = sorted((f for f in _all_fields() if typed in f.name.lower()), key=lambda f: (rank(f), f.name))
    return found[:limit]


def countable(field: str) -> str:
    """The field's name, checked: a QueryError naming `field` when it is unknown or holds words."""
    try:
        info = resolve(field)
    except QueryError as exc:
        raise QueryError(f"field: {exc.message}", field="field") from None
    if info.type in NOT_COUNTABLE:
        raise QueryError(
            f"field: {field} holds words or nested values, which have no top values; choose a keyword or number field",
            field="field",
        )
    return info.name


def _prefix_query(field: str, prefix: str) -> Node:
    """Values of a keyword field starting with `prefix`, in the cases people type ids in."""
    variants = dict.fromkeys((prefix, prefix.lower(), prefix.upper()))
    items = tuple(Prefix(field, v) for v in variants)
    return items[0] if len(items) == 1 else Or(items)


def top_values(
    store: LogStore,
    field: str,
    prefix: str,
    request: SearchRequest,
    *,
    sees_personal: bool,
    scope=lambda request: request,
    limit: int = MAX_VALUES,
) -> dict:
    """The most frequent values of `field` among the events of `request`'s time range, those
    starting with `prefix` (case ignored), as the reader may see them:
    {field, values: [{value, count}], masked, timed_out}."""
    field = countable(field)
    prefix = prefix[:MAX_PREFIX]
    masked = masking.is_personal(field) and not sees_personal
    typed = "" if masked else prefix.strip().strip('"').casefold()
    query: Node = MatchAll()
    if typed and resolve(field).type == "keyword":
        query = _prefix_query(field, prefix.strip().strip('"'))
    search = scope(
        replace(
            request,
            query=query,
            size=0,
            cursor=None,
            facets=(field,),
            facet_size=SCAN_VALUES,
            histogram_ms=None,
            total_bound=0,
            budget_ms=BUDGET_MS,
        )
    )
    facet = store.search(search).facets.get(field)
    rows = [{"value": v.value, "count": v.count} for v in facet.values] if facet else []
    if masked:
        rows = masking.masked_facet(field, rows)
    elif typed:
        rows = [r for r in rows if str(r["value"]).casefold().startswith(typed)]
    return {"field": field, "values": rows[:limit], "masked": masked, "timed_out": bool(facet and facet.timed_out)}
