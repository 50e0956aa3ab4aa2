"""The event schema, loaded from schema.yaml, and what is derived from it (JSON Schema, docs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_FILE = Path(__file__).with_name("schema.yaml")
FIELD_TYPES = {"keyword", "text", "date", "long", "double", "ip", "boolean", "changes", "labels", "tags"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    doc: str
    path: tuple[str, ...]
    enum: tuple[str, ...] | None = None
    column: str | None = None
    index: bool = False
    fulltext: bool = False
    personal: bool = False
    required: bool = False
    identifier: bool = False


@dataclass(frozen=True)
class Schema:
    fields: dict[str, Field]
    components: dict[str, str]
    types: dict[str, str]

    @property
    def columns(self) -> list[Field]:
        """Fields promoted to their own column in the embedded store, in file order."""
        return [f for f in self.fields.values() if f.column]


def get_path(node, path: tuple[str, ...] | str):
    """The value at `path` in a nested event, or None when any step is missing or not an object.
    `path`: the keys, or a field's name (its dots nest; "@timestamp" is one key)."""
    keys: Sequence[str] = path if type(path) is not str else (path,) if path == "@timestamp" else path.split(".")
    for part in keys:
        node = node.get(part) if type(node) is dict else None
    return node


@lru_cache(maxsize=1)
def load_schema() -> Schema:
    raw = yaml.safe_load(SCHEMA_FILE.read_text())
    fields = {}
    for name, spec in raw["fields"].items():
        if spec["type"] not in FIELD_TYPES:
            raise ValueError(f"schema.yaml: field {name}: unknown type {spec['type']!r}")
        path = (name,) if name == "@timestamp" else tuple(name.split("."))
        fields[name] = Field(
            name=name,
            type=spec["type"],
            doc=spec["doc"],
            path=path,
            enum=tuple(spec["enum"]) if "enum" in spec else None,
            column=spec.get("column"),
            index=bool(spec.get("index")),
            fulltext=bool(spec.get("fulltext")),
            personal=bool(spec.get("personal")),
            required=bool(spec.get("required")),
            identifier=bool(spec.get("identifier")),
        )
        if fields[name].identifier and fields[name].type not in ("keyword", "ip"):
            raise ValueError(f"schema.yaml: field {name}: only keyword and ip fields can be identifiers")
    return Schema(fields=fields, components=dict(raw["components"]), types=dict(raw["types"]))


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "keyword": {"type": "string"},
    "text": {"type": "string"},
    "date": {
        "type": ["string", "integer"],
        "description_suffix": " ISO-8601 (UTC assumed without offset) or epoch milliseconds.",
    },
    "long": {"type": "integer"},
    "double": {"type": "number"},
    "ip": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
    "boolean": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 256}, "maxItems": 32},
    "labels": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "changes": {
        "type": "array",
        "maxItems": 100,
        "items": {
            "type": "object",
            "required": ["field"],
            "properties": {"field": {"type": "string"}, "old": {}, "new": {}},
        },
    },
}


def json_schema() -> dict:
    """The event schema as JSON Schema (draft 2020-12), nested the way events are stored."""
    schema = load_schema()
    root: dict = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "/api/v1/schema",
        "title": "Platform Logs event",
        "description": 'One event. Nested objects or dotted keys ("actor.id") are both accepted on ingest; '
        "fields not listed here are kept as sent, within the size limits.",
        "type": "object",
        "properties": {},
        "additionalProperties": True,
    }
    for field in schema.fields.values():
        node = root
        for part in field.path[:-1]:
            node = node["properties"].setdefault(part, {"type": "object", "properties": {}, "additionalProperties": True})
        spec = {k: v for k, v in _JSON_TYPES[field.type].items() if k != "description_suffix"}
        spec["description"] = field.doc + _JSON_TYPES[field.type].get("description_suffix", "")
        if field.enum:
            spec["enum"] = list(field.enum)
        if field.name == "event.component":
            spec["enum"] = list(schema.components)
        if field.personal:
            spec["x-personal"] = True
        node["properties"][field.path[-1]] = spec
    root["x-components"] = schema.components
    root["x-event-types"] = schema.types
    return root


def markdown() -> str:
    """docs/schema.md, generated so it never drifts from schema.yaml."""
    schema = load_schema()
    lines = [
        "# Event schema",
        "",
        "Generated from `app/events/schema.yaml` by `platlogs schema --markdown`; do not edit by hand.",
        "Served as JSON Schema at `GET /api/v1/schema`.",
        "",
        "Events are JSON objects. Nested objects and dotted keys are equivalent on ingest",
        '(`{"actor": {"id": "p-1"}}` is `{"actor.id": "p-1"}`); events are stored nested, as in ECS.',
        "Fields not listed here are kept as sent, within the size limits (see docs/ingest.md).",
        "",
        "## Components (`event.component`)",
        "",
        "| component | what it holds |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {doc} |" for name, doc in schema.components.items()]
    lines += ["", "## Event types (`event.type`)", "", "| type | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {doc} |" for name, doc in schema.types.items()]
    lines += ["", "## Fields", "", "| field | type | meaning | notes |", "|---|---|---|---|"]
    for f in schema.fields.values():
        notes = []
        if f.required:
            notes.append("always present")
        if f.enum:
            notes.append("one of " + ", ".join(f"`{v}`" for v in f.enum))
        if f.index:
            notes.append("indexed for exact lookup")
        elif f.column:
            notes.append("filterable column")
        if f.fulltext:
            notes.append("full-text")
        if f.identifier:
            notes.append("identifier: found whole, any case")
        if f.personal:
            notes.append("personal data")
        lines.append(f"| `{f.name}` | {f.type} | {f.doc} | {'; '.join(notes)} |")
    return "\n".join(lines) + "\n"
