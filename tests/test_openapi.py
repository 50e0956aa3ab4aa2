"""The OpenAPI description (app/apidoc/openapi.yaml, served at /api/v1/openapi.json) stays true:
- every machine-facing route of the application (app/machine.py: /api/, /v1/, the
  Elasticsearch paths, and `/` as API clients see it) is described, with the same methods, and
  every path described is a route;
- each operation's security and x-permission say what the route declares (public, an ingest key,
  or a read key / session with the permission of app/roles.yaml);
- the document is valid OpenAPI 3.1 (openapi-spec-validator), served without a key, and its
  Event schema is the event schema of /api/v1/schema (written once).
The routes are read from the application, so a new route that is not described fails here."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app.access import required_permission, required_scopes
from app.apidoc import OPENAPI_FILE, DescriptionError, openapi_description
from app.machine import machine_path

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_BRACES = re.compile(r"\{[^}]+\}")


def _shape(path: str) -> str:
    """A path with its parameters unnamed: Flask's `<int:id>` and OpenAPI's `{id}` are alike."""
    return _BRACES.sub("{}", _PARAM.sub("{}", path))


def _machine_routes(app) -> dict[str, dict[str, str]]:
    """shape -> {method: endpoint} of every machine-facing route (and `/`, the Elasticsearch
    clients' first call)."""
    routes: dict[str, dict[str, str]] = {}
    for rule in app.url_map.iter_rules():
        if not (machine_path(rule.rule) or rule.rule == "/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.setdefault(_shape(rule.rule), {})[method.lower()] = rule.endpoint
    return routes


def _described(doc) -> dict[str, dict[str, dict]]:
    return {_shape(path): {m: op for m, op in item.items() if m in METHODS} for path, item in doc["paths"].items()}


def test_every_machine_route_is_described_with_its_methods(app):
    routes, described = _machine_routes(app), _described(openapi_description())
    missing = {f"{method.upper()} {path}" for path, methods in routes.items() for method in methods
               if method not in described.get(path, {})}
    assert not missing, f"routes not in {OPENAPI_FILE.name}: {sorted(missing)}"


def test_every_described_operation_is_a_route(app):
    routes, described = _machine_routes(app), _described(openapi_description())
    extra = {f"{method.upper()} {path}" for path, methods in described.items() for method in methods
             if method not in routes.get(path, {})}
    assert not extra, f"described in {OPENAPI_FILE.name} but no such route: {sorted(extra)}"


def test_security_and_permission_are_what_the_route_declares(app):
    """Public routes say `security: []`; key routes name the scope; read routes name the
    permission the view declares (x-permission), ingest routes none."""
    routes, described = _machine_routes(app), _described(openapi_description())
    wrong = []
    for path, methods in routes.items():
        if path == "/":
            continue   # the page's route; API clients are answered by es_views._root (any valid key)
        for method, endpoint in methods.items():
            operation = described[path][method]
            view = app.view_functions[endpoint]
            declared = required_permission(view)
            scopes = {scope for requirement in operation.get("security", [{}]) for scopes in requirement.values()
                      for scope in scopes}
            if declared is not None:
                if operation.get("x-permission") != declared or scopes != set(required_scopes(view)):
                    wrong.append(f"{method.upper()} {path}: declares {declared}, described "
                                 f"{operation.get('x-permission')} with scopes {sorted(scopes)}")
            elif "x-permission" in operation:
                wrong.append(f"{method.upper()} {path}: x-permission {operation['x-permission']} on a route "
                             "that declares none")
    assert not wrong, wrong


def test_public_operations_are_the_public_routes():
    doc = openapi_description()
    public = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m, op in item.items()
              if m in METHODS and op.get("security") == []}
    assert public == {"GET /api/v1/openapi.json", "GET /api/v1/schema", "GET /api/v1/health"}


def test_the_description_is_valid_openapi_3_1():
    doc = openapi_description()
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_an_invalid_description_is_caught_by_the_validator():
    """The validity test can fail: a path parameter the path does not name is refused."""
    doc = openapi_description()
    doc["paths"]["/api/v1/events/{event_id}"]["get"]["parameters"].append(
        {"name": "nowhere", "in": "path", "required": True, "schema": {"type": "string"}})
    with pytest.raises(OpenAPIValidationError, match="nowhere"):
        validate(doc, cls=OpenAPIV31SpecValidator)


def test_operation_ids_are_unique():
    ids = [op["operationId"] for item in openapi_description()["paths"].values()
           for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))


def test_served_as_json_without_a_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert doc == openapi_description()
    assert "/v1/logs" in doc["paths"] and "/_bulk" in doc["paths"]


def test_the_event_body_is_the_event_schema(client):
    """Written once: the Event schema is /api/v1/schema's, without its document keywords."""
    event = openapi_description()["components"]["schemas"]["Event"]
    served = client.get("/api/v1/schema").get_json()
    assert event["properties"] == served["properties"]
    assert "$id" not in event and "$schema" not in event
    body = openapi_description()["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/Event"} in [body["schema"]["oneOf"][0], body["schema"]["oneOf"][1]["items"]]


def test_an_event_schema_written_in_the_yaml_is_refused(tmp_path, monkeypatch):
    from app import apidoc
    text = OPENAPI_FILE.read_text().replace("  schemas:\n", "  schemas:\n    Event: {type: object}\n", 1)
    copy = tmp_path / "openapi.yaml"
    copy.write_text(text)
    monkeypatch.setattr(apidoc, "OPENAPI_FILE", copy)
    apidoc._description.cache_clear()
    try:
        with pytest.raises(DescriptionError, match="openapi.yaml: components.schemas.Event"):
            apidoc.openapi_description()
    finally:
        monkeypatch.undo()
        apidoc._description.cache_clear()
