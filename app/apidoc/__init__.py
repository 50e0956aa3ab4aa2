"""The OpenAPI 3.1 description of the machine-facing HTTP API (app/apidoc/openapi.yaml), as
served at GET /api/v1/openapi.json.

The description is data, written by hand beside the views (a generator such as apispec or
flask-smorest would need every view rewritten or annotated, across many modules); what keeps it
true is tests/test_openapi.py (every machine-facing route, with its methods and permission) and
tests/test_api_properties.py (schemathesis). The event body is not written twice: the event
schema of app/events/schema.yaml (the JSON Schema of /api/v1/schema) becomes
components.schemas.Event here."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from ..events.schema import json_schema

OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


class DescriptionError(ValueError):
    """openapi.yaml is not what the loader needs (the message names the file and the entry)."""


@lru_cache(maxsize=1)
def _description() -> dict:
    try:
        doc = yaml.safe_load(OPENAPI_FILE.read_text())
    except yaml.YAMLError as exc:
        raise DescriptionError(f"{OPENAPI_FILE.name}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise DescriptionError(f"{OPENAPI_FILE.name}: expected a mapping with `paths`")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    if "Event" in schemas:
        raise DescriptionError(
            f"{OPENAPI_FILE.name}: components.schemas.Event: comes from app/events/schema.yaml, do not write it here"
        )
    schemas["Event"] = event_schema()
    return doc


def event_schema() -> dict:
    """The event schema as an OpenAPI 3.1 schema object (JSON Schema 2020-12 without the
    document-level keywords: $schema, $id)."""
    schema = {k: v for k, v in json_schema().items() if k not in ("$schema", "$id")}
    schema["description"] = schema.get("description", "") + " JSON Schema of its own: GET /api/v1/schema."
    return schema


def openapi_description() -> dict:
    """The whole description (a copy: callers may change it)."""
    return copy.deepcopy(_description())
