"""Masking of personal data by role: fields marked `personal: true` in the schema (names,
e-mail, IP addresses, card details) are shown masked to roles without `see_personal`.

Masking is for display only: the store keeps the values, so searching by the exact value
(`actor.email:jane@example.com`) still finds the event without showing the value. For the same
roles a personal field is searched by exact value only (`exact_only`): a prefix, a range or words
would let them recover a masked value a character at a time."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache, partial
from pathlib import Path

import orjson
import yaml

from ..events.schema import get_path, load_schema
from ..query.ast import And, Node, Not, Or, Prefix, QueryError, Range, Text

MASK = "***"


@lru_cache(maxsize=1)
def personal_fields() -> dict[str, tuple[str, ...]]:
    """Field name -> path in the document, for every personal field."""
    return {f.name: f.path for f in load_schema().fields.values() if f.personal}


def mask_value(field: str, value: object) -> str | None:
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
            return ".".join([*text.split(".")[:2], "*", "*"])
        return ":".join(address.exploded.split(":")[:2]) + ":*"
    if field.startswith("payment.card"):
        digits = [c for c in text if c.isdigit()]
        return "*" * 6 + "".join(digits[-4:])
    return text[:1] + MASK


def masked_fields(event: dict) -> list[str]:
    """The personal fields this event holds a value for."""
    return [name for name, path in personal_fields().items() if get_path(event, path) not in (None, "")]


PERSONAL_TEXT_FILE = Path(__file__).with_name("personal_text.yaml")


@lru_cache(maxsize=1)
def personal_text_patterns() -> list[tuple[re.Pattern, str]]:
    """(pattern, personal field whose mask it takes) from personal_text.yaml: personal data
    written inside other values (an e-mail address or an IP in a message)."""
    return load_personal_text(PERSONAL_TEXT_FILE)


def load_personal_text(path: Path) -> list[tuple[re.Pattern, str]]:
    spec = yaml.safe_load(path.read_text()) or {}
    entries = spec.get("patterns") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected `patterns:`, a list of {{name, pattern, mask_as}}")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: patterns[{i}]" + (f" ({entry.get('name')})" if isinstance(entry, dict) else "")
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "pattern", "mask_as")):
            raise ValueError(f"{where}: needs name, pattern and mask_as, each a string")
        if entry["mask_as"] not in personal_fields():
            raise ValueError(f"{where}: mask_as: {entry['mask_as']!r} is not a personal field of the schema")
        try:
            pattern = re.compile(entry["pattern"])
        except re.error as exc:
            raise ValueError(f"{where}: pattern: {exc}") from None
        out.append((pattern, entry["mask_as"]))
    return out


def mask_text(text: str) -> str:
    """`text` with the personal data written inside it masked (as its field would be)."""
    for pattern, field in personal_text_patterns():
        text = pattern.sub(partial(_masked_match, field, field.endswith(".ip") or field == "source.ip"), text)
    return text


def _masked_match(field: str, ip_only: bool, match: re.Match[str]) -> str:
    found = match.group()
    if ip_only and not _is_ip(found):
        return found
    return mask_value(field, found) or ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _text_values(node, path: tuple[str, ...], skip: set) -> list[tuple[tuple[str, ...], str]]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            if not key.startswith("_"):
                out += _text_values(value, (*path, key), skip)
    elif isinstance(node, list):
        for item in node:
            out += _text_values(item, path, skip)
    elif isinstance(node, str) and path not in skip:
        out.append((path, node))
    return out


@lru_cache(maxsize=1)
def _not_text() -> frozenset:
    """Paths whose values are never searched for personal text: personal fields (masked whole),
    event.id and the times."""
    fields = load_schema().fields.values()
    return frozenset({f.path for f in fields if f.personal or f.type == "date"} | {("event", "id")})


def mask_event(event: dict) -> dict:
    """A copy of `event` with every personal field masked, and the personal data written inside
    its other values (personal_text.yaml); `_masked`: the fields masked."""
    present = masked_fields(event)
    text_hits = [(path, value) for path, value in _text_values(event, (), set(_not_text())) if mask_text(value) != value]
    if not present and not text_hits:
        return event
    out = orjson.loads(orjson.dumps(event))  # a deep copy, fast
    for name in present:
        *parents, last = personal_fields()[name]
        node = out
        for part in parents:
            node = node[part]
        value = node[last]
        node[last] = [mask_value(name, v) for v in value] if isinstance(value, list) else mask_value(name, value)
    for path in dict.fromkeys(path for path, _ in text_hits):
        _mask_at(out, path)
        present.append(".".join(path))
    out["_masked"] = present
    return out


def _mask_at(node, path: tuple[str, ...]) -> None:
    """Masks the personal text in every string at `path`, through the lists on the way."""
    if isinstance(node, list):
        for item in node:
            _mask_at(item, path)
        return
    if not isinstance(node, dict) or not path:
        return
    key, rest = path[0], path[1:]
    value = node.get(key)
    if rest:
        _mask_at(value, rest)
    elif isinstance(value, str):
        node[key] = mask_text(value)
    elif isinstance(value, list):
        node[key] = [mask_text(v) if isinstance(v, str) else v for v in value]


def revealable(event: dict, field: str) -> bool:
    """Whether `field` of this event may be revealed: a personal field, or a value that holds
    personal data written inside it (masked for this reader)."""
    return is_personal(field) or field in mask_event(event).get("_masked", [])


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
        raise QueryError(
            f"{node.field} is personal data: your role finds it by its whole exact value only "
            f'({node.field}:"…"), not by {kind}',
            position=node.pos,
            expected=f"the exact value of {node.field}",
            field=node.field,
        )


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
