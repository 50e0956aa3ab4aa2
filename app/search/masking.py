"""Masking of personal data by role: fields marked `personal: true` in the schema (names,
e-mail, IP addresses, card details) are shown masked to roles without `see_personal`.

Masking is for display only: the store keeps the values, so searching by the exact value
(`actor.email:jane@example.com`) still finds the event without showing the value. For the same
roles a personal field is searched by exact value only (`exact_only`): a prefix, a range or words
would let them recover a masked value a character at a time."""
from __future__ import annotations

import copy
import ipaddress
from functools import lru_cache

from ..events.schema import get_path, load_schema
from ..query.ast import And, Node, Not, Or, Prefix, QueryError, Range, Text

MASK = "***"


@lru_cache(maxsize=1)
def personal_fields() -> dict[str, tuple[str, ...]]:
    """Field name -> path in the document, for every personal field."""
    return {f.name: f.path for f in load_schema().fields.values() if f.personal}


def mask_value(field: str, value) -> str:
    """A masked form that still helps a person recognise the value: j***@example.com,
    192.0.*.*, J***, ******1234."""
    if value is None:
        return None
    text = str(value)
    if not text:
        return text
    kind = load_schema().fields[field].type if field in load_schema().fields else "keyword"
    if "@" in text and field.endswith("email"):
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}{MASK}@{domain}"
    if kind == "ip":
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return MASK
        if address.version == 4:
            return ".".join(text.split(".")[:2] + ["*", "*"])
        return ":".join(address.exploded.split(":")[:2]) + ":*"
    if field.startswith("payment.card"):
        digits = [c for c in text if c.isdigit()]
        return "*" * 6 + "".join(digits[-4:])
    return text[:1] + MASK



def masked_fields(event: dict) -> list[str]:
    """The personal fields this event holds a value for."""
    return [name for name, path in personal_fields().items() if get_path(event, path) not in (None, "")]


def mask_event(event: dict) -> dict:
    """A copy of `event` with every personal field masked, and `_masked`: the fields masked."""
    present = masked_fields(event)
    if not present:
        return event
    out = copy.deepcopy(event)
    for name in present:
        *parents, last = personal_fields()[name]
        node = out
        for part in parents:
            node = node[part]
        value = node[last]
        node[last] = [mask_value(name, v) for v in value] if isinstance(value, list) else mask_value(name, value)
    out["_masked"] = present
    return out


def is_personal(field: str) -> bool:
    return field in personal_fields()


def exact_only(node: Node) -> None:
    """QueryError (at its position) when `node` searches a personal field by anything but its exact
    value: the rule for roles without `see_personal` (`field:*` presence is fine)."""
    if isinstance(node, (And, Or)):
        for item in node.items:
            exact_only(item)
    elif isinstance(node, Not):
        exact_only(node.item)
    elif isinstance(node, (Prefix, Range, Text)) and node.field and is_personal(node.field):
        kind = {Prefix: "a prefix", Range: "a range", Text: "words"}[type(node)]
        raise QueryError(f"{node.field} is personal data: your role finds it by its whole exact value only "
                         f"({node.field}:\"…\"), not by {kind}", position=node.pos,
                         expected=f"the exact value of {node.field}", field=node.field)


def masked_facet(field: str, values: list[dict]) -> list[dict]:
    """Facet rows ({value, count, …}) of a personal field as a masked reader sees them: values
    masked, and rows that mask alike merged (counts added), ordered by count then masked value —
    so neither the order nor the number of rows tells apart values the mask hides."""
    merged: dict = {}
    for row in values:
        masked = mask_value(field, row["value"])
        into = merged.setdefault(masked, dict(row, value=masked, count=0))
        into["count"] += row["count"]
        if "selected" in row:
            into["selected"] = into.get("selected", False) or row["selected"]
    return sorted(merged.values(), key=lambda row: (-row["count"], str(row["value"])))
