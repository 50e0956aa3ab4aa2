"""Where a pasted value was found: "in actor.email (12) · in target.email (3) · in message (1)",
each a query that narrows the search to that field with one click (issue 13.3).

Only for a search that is one bare value or phrase (what a support agent pastes). Each candidate
field is counted exactly with the reader's own restrictions: the identifier fields (found whole,
in any case), then the texts; what the bare value matched in no candidate (a label, a user
agent, a before/after value) is counted as "elsewhere".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..events.schema import load_schema
from ..query import parse
from ..query.ast import And, Not, Or, Text
from ..query.quoting import quote, term
from ..storage import LogStore, SearchRequest

TEXT_FIELDS = ("message", "error.message", "error.stack_trace")
ELSEWHERE = "elsewhere"
MAX_CHIPS = 8


@dataclass(frozen=True)
class Chip:
    field: str  # a field name, or ELSEWHERE
    count: int
    q: str  # the query that narrows the search to it


def identifier_names() -> list[str]:
    """The fields matched in any case (schema `identifier: true`), for the syntax help."""
    return [f.name for f in load_schema().fields.values() if f.identifier]


def candidates(value: str) -> list[tuple[str, str]]:
    """(field, query) for every field a pasted value is looked for in by name."""
    out = [(name, term(name, value)) for name in identifier_names()]
    return out + [(name, f"{name}:{quote(value)}") for name in TEXT_FIELDS]


def where_found(
    store: LogStore, request: SearchRequest, scope: Callable[[SearchRequest], SearchRequest] = lambda r: r
) -> list[Chip]:
    """The chips for `request`, or [] when its query is not one bare value (or nothing matched).
    `scope` applies the reader's restrictions to each count."""
    node = request.query
    if not isinstance(node, Text) or node.field is not None or node.prefix:
        return []

    def count(query) -> int:
        counted = scope(replace(request, query=query, size=0, cursor=None, facets=(), histogram_ms=None))
        return store.search(counted).total

    chips = []
    for field, q in candidates(node.value):
        try:
            query = parse(q)
        except ValueError:  # (QueryError) not a value this field can hold: an IP field and a word
            continue
        n = count(query)
        if n:
            chips.append((Chip(field, n, q), query))
    if not chips:
        return []
    chips.sort(key=lambda chip: -chip[0].count)
    chips = chips[:MAX_CHIPS]
    found = tuple(query for _, query in chips)
    rest = count(And((node, Not(Or(found) if len(found) > 1 else found[0]))))
    out = [chip for chip, _ in chips]
    if rest:
        out.append(Chip(ELSEWHERE, rest, " ".join([quote(node.value), *(f"-{chip.q}" for chip in out)])))
    return out
