"""Every route refuses the anonymous, except the few that are public on purpose."""
from __future__ import annotations

import pytest

from app import create_app

PUBLIC = {"web.login", "web.static", "read_api.schema", "read_api.health", "static"}


def _routes():
    import tempfile
    app = create_app({"PLATLOGS_DATA_DIR": tempfile.mkdtemp(prefix="platlogs-routes-")})
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            args = {name: 1 if type(rule._converters.get(name)).__name__ == "IntegerConverter" else "x"
                    for name in rule.arguments}
            routes.append((rule.endpoint, method, rule.rule, args))
    app.extensions["platlogs"].close()
    return routes


ROUTES = _routes()


def test_every_route_is_listed():
    assert {r[0] for r in ROUTES} >= {"web.index", "ingest_api.post_events", "read_api.latest_events"}


@pytest.mark.parametrize("endpoint,method,rule,args", [r for r in ROUTES if r[0] not in PUBLIC],
                         ids=[f"{r[1]} {r[2]}" for r in ROUTES if r[0] not in PUBLIC])
def test_anonymous_is_refused(app, endpoint, method, rule, args):
    app.config["WTF_CSRF_ENABLED"] = False  # so a refusal below is the access check, not CSRF
    with app.test_request_context():
        from flask import url_for
        url = url_for(endpoint, **args)
    response = app.test_client().open(url, method=method)
    if endpoint in ("web.logout", "web.change_password"):
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    elif rule.startswith("/api/"):
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("endpoint,method,rule,args", [r for r in ROUTES if r[0] in PUBLIC and r[1] == "GET"])
def test_public_routes_answer_the_anonymous(client, endpoint, method, rule, args):
    from flask import url_for
    with client.application.test_request_context():
        url = url_for(endpoint, **({"filename": "app.css"} if "filename" in args else args))
    assert client.open(url, method=method).status_code == 200
