"""Dashboards made in the back office (issue 14 item 3): stored in the meta DB (SQLite and
PostgreSQL), validated like the files, changed only by their owner (an administrator may delete
any), listed beside the shipped ones, recorded as admin actions; the forms need the CSRF token,
read keys cannot write, hostile YAML is a 400 naming the position."""
from __future__ import annotations

import re
from html import unescape

import pytest

from app.dashboards.definitions import DashboardError
from app.dashboards.stored import NotAllowed, StoredDashboards
from app.query import parse
from app.storage import SearchRequest

from conftest import csrf_token, make_persona
from test_meta_db import meta, meta_url, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

GOOD = """title: Mine
description: failures I watch
panels:
  - id: fails
    title: Failed
    kind: number
    query: "event.outcome:failure"
"""
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ntitle: *c\npanels: *c\n"


class Who:
    def __init__(self, meta, name, role):
        self.username, self.role = name, role
        self.id = meta.create_user(name, role, "some-password-1")[0].id






# -- the service, on both databases ------------------------------------------------------------

def test_the_service_on_sqlite_and_postgres(meta):
    recorded = []
    s = StoredDashboards(meta, lambda: ["payments"], record=lambda *a, **k: recorded.append((a, k)))
    olga, mona, ada = Who(meta, "olga", "operations"), Who(meta, "mona", "manager"), Who(meta, "ada", "administrator")
    board = s.create(olga, "olga-board", GOOD)
    assert board.title == "Mine" and board.owner == "olga"
    row = s.get("olga-board")
    assert row.yaml_text == GOOD and row.owner_name == "olga" and row.created_at.tzinfo is not None
    assert [d.id for d in s.all()[0]] == ["olga-board"]
    with pytest.raises(NotAllowed) as taken:
        s.create(mona, "olga-board", GOOD)
    assert taken.value.status == 409
    with pytest.raises(NotAllowed) as shipped:
        s.create(olga, "payments", GOOD)
    assert shipped.value.status == 409
    with pytest.raises(NotAllowed) as other:       # a manager cannot edit another user's
        s.update(mona, "olga-board", GOOD.replace("Mine", "Hers"))
    assert other.value.status == 403
    with pytest.raises(NotAllowed):
        s.delete(mona, "olga-board")
    with pytest.raises(NotAllowed) as support:
        s.create(Who(meta, "sue", "support"), "sue-board", GOOD)
    assert support.value.status == 403
    s.update(olga, "olga-board", GOOD.replace("Mine", "Still mine"))
    assert s.get("olga-board").title == "Still mine" and s.get("olga-board").updated_at >= row.updated_at
    with pytest.raises(DashboardError) as bad:
        s.update(olga, "olga-board", GOOD.replace("kind: number", "kind: pie"))
    assert bad.value.file == "olga-board" and bad.value.panel == "fails" and bad.value.field == "kind"
    s.delete(ada, "olga-board")                    # an administrator deletes anyone's
    assert s.get("olga-board") is None
    assert [a[0] for a, _ in recorded] == ["dashboard_created", "dashboard_changed", "dashboard_deleted"]
    assert "made by olga" in recorded[-1][0][1]


HOSTILE = [
    ("billion laughs", BOMB, "aliases"),
    ("deep", "title: " + "[" * 50_000, "nested deeper"),
    ("huge", "title: x\n# " + "x" * 70_000, "at most 65,536 characters"),
    ("broken", "title: T\npanels: [\n  {id: p", "not valid YAML (line"),
    ("nul", "title: T\x00", "NUL"),
]


@pytest.mark.parametrize("name,text,fragment", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_yaml_is_a_400_with_the_position(app, name, text, fragment):
    client = make_persona(app, "technical", "tess")
    answer = client.post("/api/v1/dashboards", json={"id": "hostile", "yaml": text},
                         headers={"X-CSRFToken": csrf_token(client.get("/dashboards/new").get_data(as_text=True))})
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    error = answer.get_json()["error"]
    assert fragment in error["message"] and error["file"] == "hostile"
    if name != "huge":
        assert isinstance(error["position"], int)
    page = client.get("/dashboards/new").get_data(as_text=True)
    form = client.post("/dashboards/new", data={"id": "hostile", "yaml": text, "csrf_token": csrf_token(page)})
    assert form.status_code == 400 and fragment in unescape(form.get_data(as_text=True))


# -- pages and API ------------------------------------------------------------------------------

def _post(client, url, data):
    page = client.get("/dashboards/new").get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_token(page)})


def test_a_manager_reads_every_dashboard_and_cannot_edit_another_users(app):
    services = app.extensions["platlogs"]
    olga = make_persona(app, "operations", "olga")
    assert _post(olga, "/dashboards/new", {"id": "olga-board", "yaml": GOOD}).status_code == 302
    manager = make_persona(app, "manager", "mona")
    listing = manager.get("/dashboards").get_data(as_text=True)
    for board in ("olga-board", "payments", "integration-health", "security", "api", "platform-overview"):
        assert f'data-dashboard="{board}"' in listing
        assert manager.get(f"/dashboards/{board}").status_code == 200
    assert "by olga" in listing
    assert manager.get("/dashboards/olga-board/edit").status_code == 403
    assert _post(manager, "/dashboards/olga-board/edit", {"yaml": GOOD.replace("Mine", "X")}).status_code == 403
    assert _post(manager, "/dashboards/olga-board/delete", {}).status_code == 403
    token = csrf_token(manager.get("/dashboards/new").get_data(as_text=True))
    assert manager.put("/api/v1/dashboards/olga-board", json={"yaml": GOOD},
                       headers={"X-CSRFToken": token}).status_code == 403
    assert services.meta and StoredDashboards(services.meta, lambda: []).get("olga-board").title == "Mine"
    # the manager copies it and edits the copy
    copy = manager.get("/dashboards/new?copy=olga-board").get_data(as_text=True)
    assert 'value="olga-board-copy"' in copy and "failures I watch" in copy
    assert _post(manager, "/dashboards/new", {"id": "mona-board", "yaml": GOOD}).status_code == 302
    assert _post(manager, "/dashboards/mona-board/edit", {"yaml": GOOD.replace("Mine", "Mona's")}).status_code == 302
    assert "Mona&#39;s" in manager.get("/dashboards/mona-board").get_data(as_text=True)


def test_shipped_dashboards_are_read_only_and_can_be_copied(app):
    client = make_persona(app, "security", "sara")
    listing = client.get("/dashboards").get_data(as_text=True)
    assert "/dashboards/new?copy=payments" in listing
    assert client.get("/dashboards/payments/edit").status_code == 403
    copy = client.get("/dashboards/new?copy=payments").get_data(as_text=True)
    assert "title: Payments" in unescape(copy)
    answer = _post(client, "/dashboards/new", {"id": "payments", "yaml": GOOD})
    assert answer.status_code == 409 and "shipped" in unescape(answer.get_data(as_text=True))
    assert _post(client, "/dashboards/payments/delete", {}).status_code == 403


def test_the_form_shows_errors_by_file_panel_and_field_and_previews_without_saving(app):
    client = make_persona(app, "technical", "tess")
    bad = _post(client, "/dashboards/new", {"id": "t1", "yaml": GOOD.replace("event.outcome:failure", "log.level:(error")})
    html = unescape(bad.get_data(as_text=True))
    assert bad.status_code == 400
    assert re.search(r"<dt>File</dt><dd><code>t1</code>", html) and "<dt>Panel</dt><dd><code>fails</code>" in html
    assert "<dt>Field</dt><dd><code>query</code>" in html and "<dt>Position</dt>" in html
    preview = _post(client, "/dashboards/new", {"id": "t1", "yaml": GOOD, "action": "preview"})
    assert preview.status_code == 200 and "Preview" in preview.get_data(as_text=True)
    assert 'data-panel="fails"' in preview.get_data(as_text=True) or "Failed" in preview.get_data(as_text=True)
    assert client.get("/dashboards/t1").status_code == 404      # not saved


def test_forms_need_the_csrf_token(app):
    client = make_persona(app, "administrator", "ada")
    assert client.post("/dashboards/new", data={"id": "x", "yaml": GOOD}).status_code == 400
    assert client.get("/dashboards/x").status_code == 404
    assert client.post("/api/v1/dashboards", json={"id": "x", "yaml": GOOD}).status_code == 400
    assert _post(client, "/dashboards/new", {"id": "x", "yaml": GOOD}).status_code == 302
    assert client.post("/dashboards/x/delete").status_code == 400
    assert client.get("/dashboards/x").status_code == 200


def test_the_api_needs_a_person_and_records_admin_actions(app, client, read_headers):
    services = app.extensions["platlogs"]
    assert client.post("/api/v1/dashboards", json={"id": "k", "yaml": GOOD}, headers=read_headers).status_code == 403
    tess = make_persona(app, "technical", "tess")
    headers = {"X-CSRFToken": csrf_token(tess.get("/dashboards/new").get_data(as_text=True))}
    created = tess.post("/api/v1/dashboards", json={"id": "k", "yaml": GOOD}, headers=headers)
    assert created.status_code == 201 and created.get_json()["owner"] == "tess"
    listing = client.get("/api/v1/dashboards", headers=read_headers).get_json()
    assert {"k": True} == {d["id"]: d["stored"] for d in listing["dashboards"] if d["id"] == "k"}
    assert client.get("/api/v1/dashboards/k/data", headers=read_headers).status_code == 200
    assert client.get("/api/v1/dashboards/k/yaml", headers=read_headers).get_json()["yaml"] == GOOD
    assert client.put("/api/v1/dashboards/k", json={"yaml": GOOD}, headers=read_headers).status_code == 403
    assert client.delete("/api/v1/dashboards/k", headers=read_headers).status_code == 403
    assert tess.put("/api/v1/dashboards/k", json={"yaml": GOOD.replace("Mine", "New")}, headers=headers).status_code == 200
    assert tess.delete("/api/v1/dashboards/k", headers=headers).status_code == 204
    assert tess.delete("/api/v1/dashboards/k", headers=headers).status_code == 404
    for action in ("dashboard_created", "dashboard_changed", "dashboard_deleted"):
        hits = services.store.search(SearchRequest(query=parse(f"event.action:{action}"), size=5)).hits
        assert len(hits) == 1 and hits[0]["actor"]["id"] == "tess", action
        assert hits[0]["event"]["type"] == "permission_change" and hits[0]["target"]["id"] == "k"
