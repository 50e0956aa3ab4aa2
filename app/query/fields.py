"""Which field names a query may use, and what they are: schema fields, their namespaces (for
exists), `labels.<key>`. Anything else is an error that suggests the nearest known name."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from ..events.names import LABELS, label_key_problem
from ..events.schema import load_schema
from .ast import QueryError
from .timeexpr import parse_time

NAMESPACE = "namespace"


@dataclass(frozen=True)
class QueryField:
    name: str
    type: str  # a schema type, or "namespace"
    path: tuple[str, ...]  # where it lives in the stored document
    column: str | None = None  # promoted column in the embedded store
    indexed: bool = False  # exact lookups are indexed
    fulltext: bool = False
    identifier: bool = False  # found whole, in any case (schema.yaml `identifier`)
    personal: bool = False


@lru_cache(maxsize=1)
def known_fields() -> dict[str, QueryField]:
    fields: dict[str, QueryField] = {}
    for f in load_schema().fields.values():
        fields[f.name] = QueryField(f.name, f.type, f.path, f.column, f.index, f.fulltext, f.identifier, f.personal)
        for i in range(1, len(f.path)):
            prefix = ".".join(f.path[:i])
            fields.setdefault(prefix, QueryField(prefix, NAMESPACE, f.path[:i]))
    fields["changes.field"] = QueryField("changes.field", "keyword", ("changes", "field"))
    return fields


def resolve(name: str, position: int | None = None) -> QueryField:
    fields = known_fields()
    if name in fields:
        return fields[name]
    if name.startswith(LABELS) and len(name) > len(LABELS):
        key = name[len(LABELS) :]
        problem = label_key_problem(key)
        if problem:
            raise QueryError(f"{name[:60]!r} is not a label field: {problem}", position=position, field=name[:60])
        return QueryField(name, "keyword", ("labels", key))
    suggestion = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.5) if len(name) <= 100 else None
    hint = f"; did you mean {suggestion[0]!r}?" if suggestion else ""
    raise QueryError(f"unknown field {name[:60]!r}{hint}", position=position, field=name[:60])


def typed_value(info: QueryField, value: str, now_ms: int):
    """A query's value as the field's type holds it: a whole number exactly (a float would round
    9223372036854775807 out of range), a float, a boolean, a time in epoch ms, or the text."""
    try:
        if info.type == "long":
            number = Decimal(value)
            return int(number) if number == number.to_integral_value() else float(number)
        if info.type == "double":
            return float(value)
    except (ValueError, ArithmeticError):
        raise QueryError(f"{info.name} holds numbers; {value!r} is not one", field=info.name) from None
    if info.type == "boolean":
        return value.lower() == "true"
    if info.type == "date":
        return parse_time(value, now_ms, info.name)
    return value
