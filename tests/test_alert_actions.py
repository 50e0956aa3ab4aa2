"""People's actions on alerts go through one service (app/alerts/actions.py), which records each
as an admin action: through the page and through the JSON API alike, one `admin_action` event per
action, naming who acted and from where; the command line's operator too (audit.operator).

Real SQLite store and meta DB (the conftest `app`); alerts are opened with Alerts.apply."""
from __future__ import annotations

import time

import pytest
from conftest import csrf_token

from app.alerts.actions import Actor, AlertActions
from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.query import parse
from app.storage.base import SearchRequest

pytestmark = pytest.mark.usefixtures("cheap_hashes")

RULE = Rule(id="failed-logins-test", name="Failed logins", kind="threshold", query="event.action:login_failed",
            window_s=600, threshold=10, group_by="event.outcome", renotify_s=0)


def fire(services, *groups: str) -> list[int]:
    """Alerts firing now for `groups` (one rule run: a later run would resolve the groups it omits)."""
    groups = groups or ("failure",)
    moment = time.time_ns() // 1_000_000 - 60_000
    findings = [Finding(rule_id=RULE.id, group=g, state="alert", value=27.0, threshold=10, detail="27 > 10")
                for g in groups]
    alerts = Alerts(services.meta)
    alerts.apply(RULE, Evaluation(rule=RULE, now_ms=moment, findings=findings), moment)
    return [alerts.open_instance(RULE.id, g).id for g in groups]


def admin_events(services, action: str) -> list[dict]:
    hits = services.store.search(SearchRequest(query=parse(f"event.action:{action}"), size=50)).hits
    assert all(h["event"]["component"] == "admin_action" for h in hits)
    return hits


@pytest.fixture
def security(persona):
    return persona("security", "sec-sara")


def api_post(client, url: str, body: dict):
    token = csrf_token(client.get("/alerts").get_data(as_text=True))
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def test_acknowledging_through_the_page_or_the_api_leaves_one_admin_action_each(services, security):
    by_page, by_api = fire(services, "failure", "success")
    token = csrf_token(security.get("/alerts").get_data(as_text=True))
    response = security.post(f"/alerts/{by_page}/acknowledge", data={"comment": "on it", "csrf_token": token})
    assert response.status_code == 302
    [event] = admin_events(services, "alert_acknowledged")
    assert event["actor"]["id"] == "sec-sara" and event["target"] == {"type": "alert", "id": str(by_page)}
    assert event["source"]["ip"] == "127.0.0.1" and event["event"]["type"] == "permission_change"

    response = api_post(security, f"/api/v1/alerts/{by_api}/acknowledge", {"comment": "mine"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["acknowledged_by"] == "sec-sara"
    events = admin_events(services, "alert_acknowledged")
    assert sorted(e["target"]["id"] for e in events) == sorted([str(by_page), str(by_api)])

    # the same refusals from both: a resolved or missing alert changes nothing and records nothing
    assert api_post(security, f"/api/v1/alerts/{by_api}/acknowledge", {"owner": "nobody"}).status_code == 400
    assert api_post(security, "/api/v1/alerts/999999/acknowledge", {}).status_code == 404
    assert security.post("/alerts/999999/acknowledge", data={"csrf_token": token}).status_code == 404
    assert len(admin_events(services, "alert_acknowledged")) == 2


def test_muting_through_the_page_or_the_api_leaves_one_admin_action_each(services, security):
    by_page, by_api = fire(services, "failure", "success")
    token = csrf_token(security.get("/alerts").get_data(as_text=True))
    response = security.post(f"/alerts/{by_page}/mute", data={"duration": "1h", "csrf_token": token})
    assert response.status_code == 302
    assert len(admin_events(services, "alert_muted")) == 1

    response = api_post(security, f"/api/v1/alerts/{by_api}/mute", {"minutes": 90, "scope": "group"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "group"
    events = admin_events(services, "alert_muted")
    assert len(events) == 2 and {e["labels"]["alert_id"] for e in events} == {str(by_page), str(by_api)}
    assert api_post(security, f"/api/v1/alerts/{by_api}/mute", {"minutes": 0}).status_code == 400
    assert len(admin_events(services, "alert_muted")) == 2

    listed = security.get("/api/v1/alerts").get_json()["alerts"]
    assert {a["id"] for a in listed} == {by_page, by_api} and all(a["muted_until"] for a in listed)


def test_an_api_key_may_not_act(services, client, read_headers):
    [alert] = fire(services)
    response = client.post(f"/api/v1/alerts/{alert}/acknowledge", json={}, headers=read_headers)
    assert response.status_code == 403
    assert Alerts(services.meta).instance(alert).ack_owner is None and admin_events(services, "alert_acknowledged") == []


def test_the_command_line_operator_is_recorded_too(services):
    [alert] = fire(services)
    services.meta.create_user("ops-olga", "operations", "olga-password-1")
    actions = AlertActions(services, Actor.command_line(), rules_dir=None)
    actions.acknowledge(alert, "ops-olga", "from the shell")
    [event] = admin_events(services, "alert_acknowledged")
    assert event["actor"]["id"].startswith("cli:") and event["source"]["domain"]
    [entry] = [h for h in Alerts(services.meta).history(instance_id=alert) if h.action == "acknowledged"]
    assert entry.actor == event["actor"]["id"][:64]


def test_platlogs_alerts_ack_and_mute_act_through_the_same_service(app, services, env, tmp_path):
    from click.testing import CliRunner

    from app.cli import main
    rules = tmp_path / "rules"
    rules.mkdir()
    services.meta.create_user("ops-olga", "operations", "olga-password-1")
    [alert] = fire(services)
    runner = CliRunner()
    result = runner.invoke(main, ["alerts", "ack", str(alert), "--owner", "ops-olga", "--comment", "on it",
                                  "--rules", str(rules)], env=env)
    assert result.exit_code == 0, result.output
    assert Alerts(services.meta).instance(alert).ack_owner == "ops-olga"
    result = runner.invoke(main, ["alerts", "mute", str(alert), "--until", "now+90m", "--rules", str(rules)], env=env)
    assert result.exit_code == 0, result.output
    refused = runner.invoke(main, ["alerts", "ack", "999999", "--owner", "ops-olga", "--rules", str(rules)], env=env)
    assert refused.exit_code == 1 and "No alert #999999" in refused.output
    window = runner.invoke(main, ["alerts", "maintenance", "add", "--group", "psp-*", "--end", "now+2h",
                                  "--reason", "announced", "--rules", str(rules)], env=env)
    assert window.exit_code == 0, window.output

    from app.config import Settings
    from app.services import build_services
    fresh = build_services(Settings.from_env(env))     # what another process reads
    try:
        for action in ("alert_acknowledged", "alert_muted", "maintenance_window_added"):
            [event] = admin_events(fresh, action)
            assert event["actor"]["id"].startswith("cli:") and event["source"]["domain"], action
    finally:
        fresh.close()
