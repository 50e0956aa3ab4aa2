"""API keys for the alerts' JSON API (issue 16.5): what a security team scripting its on-call needs.

- `platlogs keys create --scope read` (or the keys page): the key lists the alerts, and reads what
  read keys read before; it may not act (403 naming the scope it lacks).
- `--scope alerts:write`: the key lists, acknowledges, withdraws, mutes and unmutes; every action
  goes through the service the page uses (app/alerts/actions.py) and is an admin-action event
  naming the key (actor api-key-<id>, message and alert history `key:<name>`).
- a revoked key is refused (401); a key never does more than the person who created it may do
  (refused at creation; and later, when they lose the permission or are deactivated);
- keys made before keys kept their roles act exactly as they did (no alerts):
  tests/test_meta_migration_key_roles.py.

Real HTTP requests through the Flask test client, against the real app (SQLite meta DB, embedded
store), with real keys made by the real command and page."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import csrf_token, make_persona

from app.alerts.lifecycle import Alerts
from app.cli import main
from app.meta import accounts
from app.query import parse
from app.storage.base import SearchRequest
from test_alert_actions import RULE, fire

pytestmark = pytest.mark.usefixtures("cheap_hashes")


@pytest.fixture
def cli(services, env, monkeypatch):
    """cli(*args) -> click's Result of `platlogs *args` on the app's own data directory."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PLATLOGS_META_DB", services.settings.meta_db_url)

    def run(*args: str, ok: bool = True):
        result = CliRunner().invoke(main, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def new_key(cli, *scopes: str, name: str) -> tuple[dict, int]:
    """A key made by `platlogs keys create`: its request headers and its id."""
    result = cli("keys", "create", *(a for s in scopes for a in ("--scope", s)), "--name", name)
    key = result.stdout.strip()
    assert key.startswith("plk_"), result.output
    key_id = int(re.search(r"key #(\d+)", result.stderr).group(1))
    return {"Authorization": f"Bearer {key}"}, key_id


def events(services, query: str) -> list[dict]:
    return services.store.search(SearchRequest(query=parse(query), size=50)).hits


# -- the command line -------------------------------------------------------------------------------


def test_keys_create_offers_the_alert_scopes_and_lists_what_each_key_acts_as(cli):
    assert "alerts:write" in cli("keys", "create", "--help").output
    new_key(cli, "read", name="dashboards")
    new_key(cli, "read", "alerts:write", name="oncall")
    new_key(cli, "ingest", name="shipper")
    listed = cli("keys", "list").output
    assert re.search(r"read\b.*dashboards.*acts as api_alert_reader, api_reader$", listed, re.M), listed
    assert re.search(r"alerts:write,read\b.*oncall.*api_alert_reader, api_alert_writer, api_reader", listed), listed
    assert re.search(r"ingest\b.*shipper.*\(no role\)", listed), listed
    refused = cli("keys", "create", "--scope", "alerts:admin", "--name", "x", ok=False)
    assert refused.exit_code == 2 and "alerts:write" in refused.output


def test_creating_a_key_from_the_command_line_is_recorded_with_its_scopes_and_roles(cli, services):
    _, key_id = new_key(cli, "alerts:write", name="oncall")
    [event] = events(services, f'event.action:api_key_created AND target.id:"{key_id}"')
    assert event["actor"]["id"].startswith("cli:")
    assert {c["field"]: c["new"] for c in event["changes"]} == {
        "scopes": ["alerts:write"],
        "roles": ["api_alert_reader", "api_alert_writer"],
    }


# -- a read key -----------------------------------------------------------------------------------


def test_a_read_key_lists_the_alerts_and_reads_what_read_keys_read(client, services, cli):
    headers, _ = new_key(cli, "read", name="dashboards")
    [alert] = fire(services)
    response = client.get("/api/v1/alerts", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert [a["id"] for a in response.get_json()["alerts"]] == [alert]
    for url in ("/api/v1/search?q=*", "/api/v1/timeline?by=service.name&value=wallet", "/api/v1/ingest/status", "/api/v1/dashboards"):
        assert client.get(url, headers=headers).status_code == 200, url


@pytest.mark.parametrize(
    "action,body",
    [("acknowledge", {}), ("unacknowledge", {}), ("mute", {"minutes": 30}), ("unmute", {})],
)
def test_a_read_key_may_not_act_on_an_alert(client, services, cli, action, body):
    headers, _ = new_key(cli, "read", name="dashboards")
    [alert] = fire(services)
    response = client.post(f"/api/v1/alerts/{alert}/{action}", json=body, headers=headers)
    assert response.status_code == 403
    assert "alerts:write" in response.get_json()["error"]["message"]
    inst = Alerts(services.meta).instance(alert)
    assert inst.ack_owner is None and Alerts(services.meta).mutes() == []
    assert events(services, "event.component:admin_action AND event.action:alert_*") == []


# -- an alerts:write key --------------------------------------------------------------------------


def test_a_write_key_acts_through_the_service_and_the_trail_names_the_key(app, client, services, cli):
    headers, key_id = new_key(cli, "alerts:write", name="oncall")
    [alert] = fire(services)
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=headers).get_json()["alerts"]] == [alert]

    response = client.post(f"/api/v1/alerts/{alert}/acknowledge", json={"comment": "paged"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["acknowledged_by"] == "key:oncall"
    response = client.post(f"/api/v1/alerts/{alert}/unacknowledge", json={"comment": "handed over"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["acknowledged_by"] is None
    services.meta.create_user("ops-olga", "operations", "olga-password-1")
    response = client.post(f"/api/v1/alerts/{alert}/acknowledge", json={"owner": "ops-olga"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["acknowledged_by"] == "ops-olga"
    response = client.post(f"/api/v1/alerts/{alert}/mute", json={"minutes": 60, "comment": "known"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert Alerts(services.meta).mutes()[0].rule_id == RULE.id
    response = client.post(f"/api/v1/alerts/{alert}/unmute", json={}, headers=headers)
    assert response.status_code == 200 and response.get_json()["mutes"] == 1, response.get_json()
    assert Alerts(services.meta).mutes() == []

    # every action: one admin-action event naming the key, from the request's address
    trail = events(services, f'event.component:admin_action AND actor.id:"api-key-{key_id}"')
    assert sorted(e["event"]["action"] for e in trail) == [
        "alert_acknowledged",
        "alert_acknowledged",
        "alert_muted",
        "alert_unacknowledged",
        "alert_unmuted",
    ]
    assert all(e["actor"]["name"] == "oncall" and e["actor"]["type"] == "service" for e in trail)
    assert all(e["message"].startswith("key:oncall ") and e["source"]["ip"] == "127.0.0.1" for e in trail)
    history = {h.action: h.actor for h in Alerts(services.meta).history(instance_id=alert)}
    assert history["acknowledged"] == "key:oncall"

    # and the Admin operations page shows it to an auditor
    auditor = make_persona(app, "auditor")
    page = auditor.get("/admin-operations?from=now-1h").get_data(as_text=True)
    assert "key:oncall acknowledged alert" in page


def test_a_write_key_reads_nothing_but_the_alerts(client, services, cli):
    headers, _ = new_key(cli, "alerts:write", name="oncall")
    response = client.get("/api/v1/search?q=*", headers=headers)
    assert response.status_code == 403 and "read" in response.get_json()["error"]["message"]
    response = client.post("/api/v1/events", json={"message": "x"}, headers=headers)
    assert response.status_code == 403


def test_a_write_key_gets_the_services_refusals(client, services, cli):
    headers, _ = new_key(cli, "alerts:write", name="oncall")
    [alert] = fire(services)
    assert client.post("/api/v1/alerts/999999/acknowledge", json={}, headers=headers).status_code == 404
    assert client.post(f"/api/v1/alerts/{alert}/unacknowledge", json={}, headers=headers).status_code == 409
    assert client.post(f"/api/v1/alerts/{alert}/unmute", json={}, headers=headers).status_code == 409
    assert client.post(f"/api/v1/alerts/{alert}/acknowledge", json={"owner": "nobody"}, headers=headers).status_code == 400
    bad = client.post(f"/api/v1/alerts/{alert}/unmute", json={"scope": "everything"}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "scope"
    assert client.post(f"/api/v1/alerts/{alert}/mute", json={"minutes": "5"}, headers=headers).status_code == 400
    assert events(services, "event.component:admin_action AND event.action:alert_*") == []


def test_a_revoked_key_is_refused(client, services, cli):
    headers, key_id = new_key(cli, "read", "alerts:write", name="oncall")
    [alert] = fire(services)
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    cli("keys", "revoke", str(key_id))
    assert client.get("/api/v1/alerts", headers=headers).status_code == 401
    response = client.post(f"/api/v1/alerts/{alert}/acknowledge", json={}, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert Alerts(services.meta).instance(alert).ack_owner is None


# -- the keys page ----------------------------------------------------------------------------------


def test_the_keys_page_creates_a_key_with_the_scopes_chosen(app, client, services):
    admin = make_persona(app, "administrator")
    page = admin.get("/admin/keys").get_data(as_text=True)
    assert 'value="alerts:write"' in page and 'value="read"' in page
    response = admin.post(
        "/admin/keys", data={"name": "oncall", "scope": ["read", "alerts:write"], "csrf_token": csrf_token(page)}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    key = re.search(r'<code class="secret">(plk_[^<]+)</code>', html).group(1)
    assert "api_alert_writer" in html  # what the key acts as, in the list
    headers = {"Authorization": f"Bearer {key}"}
    [alert] = fire(services)
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    response = client.post(f"/api/v1/alerts/{alert}/mute", json={"minutes": 5}, headers=headers)
    assert response.status_code == 200, response.get_json()
    bad = admin.post("/admin/keys", data={"name": "x", "scope": ["alerts:admin"], "csrf_token": csrf_token(page)})
    assert bad.status_code == 400


# -- never more than its creator --------------------------------------------------------------------


def test_a_key_is_never_made_with_more_than_its_creator_may_do(services):
    auditor, _ = services.meta.create_user("aud", "auditor", "auditor-password-1")  # view_alerts, not act_on_alerts
    by = accounts.Acting({"type": "employee", "id": "aud"}, None, auditor.id)
    with pytest.raises(ValueError, match=r"alerts:write.*act_on_alerts"):
        accounts.create_key(services, by, "oncall", ["alerts:write"])
    with pytest.raises(ValueError, match=r"scope read.*view_ingest"):  # an auditor may not see the ingest status
        accounts.create_key(services, by, "reports", ["read"])
    assert accounts.keys(services) == []
    olga, _ = services.meta.create_user("olga", "operations", "olga-password-1")  # all that both scopes give
    row, _ = accounts.create_key(services, accounts.Acting({"id": "olga"}, None, olga.id), "oncall", ["read", "alerts:write"])
    assert row.roles == "api_alert_reader,api_alert_writer,api_reader" and row.created_by == olga.id


def test_a_key_loses_what_its_creator_loses(app, client, services):
    admin = make_persona(app, "administrator", "root-admin")
    make_persona(app, "administrator", "ada")
    ada = services.meta.user_by_name("ada")
    by_ada = accounts.Acting({"type": "employee", "id": "ada"}, None, ada.id)
    _, key = accounts.create_key(services, by_ada, "oncall", ["read", "alerts:write"])
    headers = {"Authorization": f"Bearer {key}"}
    [alert] = fire(services)
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200

    # ada becomes an auditor: the key still lists and searches, but no longer acts
    root = accounts.Acting({"type": "employee", "id": "root-admin"}, None, services.meta.user_by_name("root-admin").id)
    accounts.change_user(services, root, ada.id, role="auditor")
    response = client.post(f"/api/v1/alerts/{alert}/acknowledge", json={}, headers=headers)
    assert response.status_code == 403 and "ada" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    assert client.get("/api/v1/search?q=*", headers=headers).status_code == 200
    keys_page = admin.get("/admin/keys").get_data(as_text=True)
    assert "held back by ada, who created it: no longer act_on_alerts, view_ingest" in keys_page

    # ada leaves: the key reads nothing either
    accounts.change_user(services, root, ada.id, active=False)
    assert client.get("/api/v1/alerts", headers=headers).status_code == 403
    assert client.get("/api/v1/search?q=*", headers=headers).status_code == 403
    assert Alerts(services.meta).instance(alert).ack_owner is None
