"""The alert pages (app/web/alerts.py): rules listed together (the shipped files' and those made
here), the rule form validated on save with the query's error at its position, ids unique, the
preview that evaluates a rule over the last hours and writes nothing, acknowledge / mute /
unmute from the active page with the history naming who, permanent delivery failures shown on
the alert, maintenance windows, destinations, hostile values escaped, personal group values
masked, and the permissions of the POST actions.

Real SQLite store and meta DB (the conftest `app`); alert instances are made through
Alerts.apply with findings built here, events through the ingest API."""
from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import csrf_token
from sqlalchemy import func, select

from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.alerts.notify import deliver_due, destinations
from app.alerts.rules import default_rules_dir, load_rules
from app.events.convert import format_ts
from app.meta.alert_tables import AlertDelivery, AlertHistory, AlertInstance, MaintenanceWindow, UIRule, to_dt
from app.query import parse
from app.storage.base import SearchRequest

MIN = 60_000
FILE_RULE = "brute-force-login-per-account"


pytestmark = pytest.mark.usefixtures("cheap_hashes")   # see tests/conftest.py


@pytest.fixture
def alerts(services) -> Alerts:
    return Alerts(services.meta)


@pytest.fixture
def security(persona):
    return persona("security", "sec-sara")


@pytest.fixture
def ops(persona):
    return persona("operations", "ops-olga")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def post(client, url: str, data: dict | None = None, page: str = "/alerts"):
    """POST a form with the CSRF token of `page`."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def html_of(response) -> str:
    return response.get_data(as_text=True)


def count(services, model) -> int:
    with services.meta.Session() as s:
        return s.scalar(select(func.count()).select_from(model))


def audit_events(services, action: str) -> list[dict]:
    return services.store.search(SearchRequest(query=parse(f"event.action:{action}"), size=50)).hits


def rule_form(**changes) -> dict:
    form = {"id": "failed-logins-ui", "name": "Failed logins (made in the UI)", "kind": "threshold",
            "query": "event.action:login_failed", "window": "10m", "threshold": "5", "group_by": "actor.id",
            "pending": "0", "renotify": "1h", "severity": "warning", "notify": "", "description": "",
            "enabled": "1", "preview_hours": "6"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def make_rule(rule_id: str = FILE_RULE, **changes) -> Rule:
    """The file rule itself (so the pages know its name), or a made-up one."""
    if rule_id == FILE_RULE and not changes:
        return next(r for r in load_rules(default_rules_dir()) if r.id == FILE_RULE)
    base = Rule(id=rule_id, name=f"rule {rule_id}", kind="threshold", query="event.action:login_failed",
                window_s=600, threshold=10, group_by="actor.id", renotify_s=0)
    return Rule(**{**base.__dict__, **changes})


def fire(alerts: Alerts, rule: Rule, group: str | None = "p-9", moment: int | None = None, value: float = 27.0):
    """An alert firing now for `group` (Alerts.apply with a finding built here)."""
    moment = moment or now_ms() - MIN
    finding = Finding(rule_id=rule.id, group=group, state="alert", value=value, threshold=rule.threshold,
                      detail=f"{value:.0f} events in 10 min (more than {rule.threshold:.0f})", sample_ids=("e1", "e2"),
                      search_query=f'event.action:login_failed AND actor.id:"{group}"' if group else "x",
                      window_start_ms=moment - 600_000, window_end_ms=moment)
    alerts.apply(rule, Evaluation(rule=rule, now_ms=moment, findings=[finding]), moment)
    return alerts.open_instance(rule.id, group)


# -- rules: listed together, created, validated ---------------------------------------------------

def test_a_rule_made_in_the_form_is_listed_with_the_file_rules(security, persona, services, alerts):
    form_page = html_of(security.get("/alerts/rules/new"))
    assert 'name="csrf_token"' in form_page and 'name="preview"' in form_page
    assert "<script" not in form_page and "style=" not in form_page          # the CSP allows neither inline
    response = post(security, "/alerts/rules/new", rule_form(), page="/alerts/rules/new")
    assert response.status_code == 302 and response.headers["Location"].endswith("/alerts/rules")

    html = html_of(security.get("/alerts/rules"))
    assert "Rule failed-logins-ui created" in html                           # the one-time message
    assert "failed-logins-ui" in html and "Failed logins (made in the UI)" in html and "made here by sec-sara" in html
    for rule in load_rules(default_rules_dir()):                             # every shipped rule, with its file
        assert rule.id in html
    assert f"{FILE_RULE}.yaml" in html
    assert f'href="/alerts/rules/new?copy={FILE_RULE}"' in html               # a file rule: copy, not edit
    assert 'href="/alerts/rules/failed-logins-ui/edit"' in html
    assert f'href="/alerts/rules/{FILE_RULE}/edit"' not in html

    rule = alerts.ui_rules()[0][0]
    assert (rule.id, rule.window_s, rule.threshold, rule.group_by, rule.source) == ("failed-logins-ui", 600, 5, "actor.id", "ui")
    assert [(h.action, h.actor) for h in alerts.history(rule_id="failed-logins-ui")] == [("rule_created", "sec-sara")]
    [event] = audit_events(services, "alert_rule_created")
    assert event["actor"]["id"] == "sec-sara" and event["event"]["type"] == "permission_change"
    assert {"field": "threshold", "old": None, "new": 5} in event["changes"]

    # auditors read the list, without the links that change rules
    auditor = html_of(persona("auditor").get("/alerts/rules"))
    assert "failed-logins-ui" in auditor and "/edit" not in auditor and "New rule" not in auditor


def test_a_bad_query_is_shown_at_its_position_and_nothing_is_saved(security, services):
    query = "event.action:login_failed AND (actor.id:p-1"
    response = post(security, "/alerts/rules/new", rule_form(query=query), page="/alerts/rules/new")
    html = html_of(response)
    assert response.status_code == 400
    assert "missing &#39;)&#39; to close &#39;(&#39;" in html and "expected &#39;)&#39;" in html
    caret = re.search(r'<pre class="caret">(.*?)</pre>', html, re.S).group(1)
    line, marker = unescape(caret).split("\n")
    assert line == query and marker == " " * 43 + "^ position 43"
    assert 'id="error-query"' in html
    assert f">{query}</textarea>" in html                                      # the draft is kept
    assert count(services, UIRule) == 0 and audit_events(services, "alert_rule_created") == []

    # other fields' errors are shown next to them too; a ratio needs its failure query
    html = html_of(post(security, "/alerts/rules/new", rule_form(window="5 fortnights"), page="/alerts/rules/new"))
    assert 'id="error-window"' in html and "expected a duration" in html
    html = html_of(post(security, "/alerts/rules/new", rule_form(kind="ratio", threshold="0.2"), page="/alerts/rules/new"))
    assert 'id="error-failure_query"' in html and "a query is required" in html
    html = html_of(post(security, "/alerts/rules/new", rule_form(notify="nowhere"), page="/alerts/rules/new"))
    assert 'id="error-notify"' in html and "no destination named nowhere" in html
    # a field of another kind is ignored, not refused
    response = post(security, "/alerts/rules/new", rule_form(failure_query="event.outcome:failure", baseline_periods="3"),
                    page="/alerts/rules/new")
    assert response.status_code == 302 and count(services, UIRule) == 1


def test_ids_are_unique_across_file_and_ui_rules(security, services):
    response = post(security, "/alerts/rules/new", rule_form(id=FILE_RULE), page="/alerts/rules/new")
    assert response.status_code == 400 and "is a rule file&#39;s" in html_of(response)
    assert post(security, "/alerts/rules/new", rule_form(), page="/alerts/rules/new").status_code == 302
    response = post(security, "/alerts/rules/new", rule_form(name="another"), page="/alerts/rules/new")
    assert response.status_code == 400 and "already used by a rule made here" in html_of(response)
    response = post(security, "/alerts/rules/new", rule_form(id="Bad Id!"), page="/alerts/rules/new")
    assert response.status_code == 400 and 'id="error-id"' in html_of(response)
    assert count(services, UIRule) == 1
    assert Alerts(services.meta).ui_rules()[0][0].name == "Failed logins (made in the UI)"   # not replaced


def test_a_file_rule_is_copied_not_edited(security):
    response = security.get(f"/alerts/rules/{FILE_RULE}/edit")
    assert response.status_code == 409 and f"{FILE_RULE}.yaml" in html_of(response)
    assert f'href="/alerts/rules/new?copy={FILE_RULE}"' in html_of(response)
    assert post(security, f"/alerts/rules/{FILE_RULE}/edit", rule_form(id=FILE_RULE)).status_code == 409
    assert post(security, f"/alerts/rules/{FILE_RULE}/delete").status_code == 409
    html = html_of(security.get(f"/alerts/rules/new?copy={FILE_RULE}"))
    assert f'value="{FILE_RULE}-copy"' in html and 'value="Brute-force logins against one account"' in html
    assert 'value="10m"' in html and 'value="actor.id"' in html
    assert security.get("/alerts/rules/no-such-rule/edit").status_code == 404


def test_edit_and_delete_a_ui_rule_are_recorded_with_old_and_new_values(security, services, alerts):
    post(security, "/alerts/rules/new", rule_form(), page="/alerts/rules/new")
    html = html_of(security.get("/alerts/rules/failed-logins-ui/edit"))
    assert 'value="failed-logins-ui"' in html and "readonly" in html and 'value="10m"' in html
    response = post(security, "/alerts/rules/failed-logins-ui/edit", rule_form(threshold="8", severity="critical"),
                    page="/alerts/rules/failed-logins-ui/edit")
    assert response.status_code == 302
    rule = alerts.ui_rules()[0][0]
    assert rule.threshold == 8 and rule.severity == "critical"
    [event] = audit_events(services, "alert_rule_changed")
    assert sorted((c["field"], c["old"], c["new"]) for c in event["changes"]) == [
        ("severity", "warning", "critical"), ("threshold", 5, 8)]
    # the id in the form cannot move the rule elsewhere
    post(security, "/alerts/rules/failed-logins-ui/edit", rule_form(id="other-id", threshold="9"),
         page="/alerts/rules/failed-logins-ui/edit")
    assert [r.id for r in alerts.ui_rules()[0]] == ["failed-logins-ui"] and alerts.ui_rules()[0][0].threshold == 9

    response = post(security, "/alerts/rules/failed-logins-ui/delete", page="/alerts/rules")
    assert response.status_code == 302 and alerts.ui_rules() == ([], [])
    [event] = audit_events(services, "alert_rule_deleted")
    assert {"field": "threshold", "old": 9, "new": None} in event["changes"]
    assert [h.action for h in alerts.history(rule_id="failed-logins-ui")] == ["rule_deleted", "rule_updated",
                                                                              "rule_updated", "rule_created"]
    assert post(security, "/alerts/rules/failed-logins-ui/delete", page="/alerts/rules").status_code == 404


# -- test before saving ---------------------------------------------------------------------------

def failed_logins(player: str, at_ms: int, n: int) -> list[dict]:
    return [{"@timestamp": format_ts(at_ms + i * 100), "message": f"login failed for {player}",
             "actor": {"type": "player", "id": player}, "event": {"action": "login_failed", "outcome": "failure"}}
            for i in range(n)]


def test_the_preview_shows_what_would_have_fired_and_writes_nothing(security, client, ingest_headers, services, alerts):
    # every minute the scheduler would evaluate the rule is a position, each over the 10-minute window:
    # the 20 failures (2 s long) lie in the windows of 10 consecutive positions
    base = now_ms() // MIN * MIN
    events = failed_logins("p-77", base - 95 * MIN + 30_000, 20) + failed_logins("p-12", base - 30 * MIN, 2)
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).get_json()["accepted"] == 22
    stored = services.store.search(SearchRequest(query=parse("*"), size=0, total_bound=10_000)).total
    tables = {model: count(services, model) for model in (UIRule, AlertInstance, AlertHistory, AlertDelivery)}

    response = post(security, "/alerts/rules/new", rule_form(preview="1"), page="/alerts/rules/new")
    html = html_of(response)
    assert response.status_code == 200
    assert "What <code>failed-logins-ui</code> would have fired over the last 6 hours" in html
    assert "360 of 360 window positions evaluated, every 1 min (each over 10 min)" in html
    assert "an alert at 10 position(s), 1 window(s) that would have fired" in html and "groups: p-77" in html
    row = re.search(r'<tr class="failure">(.*?)</tr>', html, re.S).group(1)
    assert "p-77" in row and ">20<" in row and ">5<" in row and "20 events in 10 min (more than 5)" in row
    assert ">fire<" in row
    assert "p-12" not in html                                                  # 2 failures: below the line
    assert "Warning" not in html
    link = unescape(re.search(r'<a href="(/\?[^"]+)">search \(5 samples\)</a>', html).group(1))
    args = parse_qs(urlsplit(link).query)
    assert args["q"] == ['event.action:login_failed AND actor.id:"p-77"'] and args["from"] and args["to"]
    assert security.get(link).status_code == 200
    assert 'value="failed-logins-ui"' in html and "Not saved" in html          # the draft stays in the form

    # nothing written: no rule, instance, history, delivery, nor any event (no audit line)
    assert {model: count(services, model) for model in tables} == tables
    assert services.store.search(SearchRequest(query=parse("*"), size=0, total_bound=10_000)).total == stored

    # pending_s: the alert would only be pending; a higher threshold: no alert at all
    html = html_of(post(security, "/alerts/rules/new", rule_form(preview="1", pending="30m"), page="/alerts/rules/new"))
    assert "be pending (held 9 min)" in html and ">fire<" not in html
    html = html_of(post(security, "/alerts/rules/new", rule_form(preview="1", threshold="50", preview_hours="1000"),
                        page="/alerts/rules/new"))
    assert "<strong>no alert</strong>" in html and "over the last 168 hours" in html
    assert "10,080 of 10,080 window positions evaluated, every 1 min" in html      # 7 days: every minute
    # a rule that does not validate is not evaluated
    response = post(security, "/alerts/rules/new", rule_form(preview="1", query="actor.id:"), page="/alerts/rules/new")
    assert response.status_code == 400 and "would have fired" not in html_of(response)
    assert {model: count(services, model) for model in tables} == tables


def test_the_preview_warns_of_a_group_by_field_the_events_lack_on_the_page_and_in_the_api(
        security, client, ingest_headers, services, read_headers):
    base = now_ms() // MIN * MIN
    assert client.post("/api/v1/events", json=failed_logins("p-77", base - 20 * MIN, 8),
                       headers=ingest_headers).get_json()["accepted"] == 8
    html = html_of(post(security, "/alerts/rules/new", rule_form(preview="1", group_by="source.ip"),
                        page="/alerts/rules/new"))
    warning = re.search(r'<p class="warning bad" role="alert">Warning: (.*?)</p>', html, re.S).group(1)
    assert "none of the 8 events" in warning and "source.ip" in warning
    assert "<strong>no alert</strong>" in html

    # the JSON API: the same service, the same warning and windows
    token = csrf_token(html_of(security.get("/alerts/rules/new")))
    definition = {"id": "t", "name": "t", "kind": "threshold", "query": "event.action:login_failed",
                  "window": "10m", "threshold": 5}
    answer = security.post("/api/v1/alerts/rules/test", json={"rule": {**definition, "group_by": "source.ip"}},
                           headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["warnings"] == [unescape(warning)] and body["windows"] == []
    assert body["positions"] == body["evaluated"] == 360 and body["step_s"] == 60 and body["window_s"] == 600
    body = security.post("/api/v1/alerts/rules/test", json={"rule": {**definition, "group_by": "actor.id"}, "hours": 1},
                         headers={"X-CSRFToken": token}).get_json()
    (window,) = body["windows"]
    assert window["group"] == "p-77" and window["peak"] == 8 and window["fires"] and body["warnings"] == []
    assert window["search"]["q"] == 'event.action:login_failed AND actor.id:"p-77"' and len(window["sample_ids"]) == 5
    assert body["positions"] == 60
    # a shipped rule by its id; a bad query at its position; an API key of scope read may not
    assert security.post("/api/v1/alerts/rules/test", json={"rule_id": FILE_RULE, "hours": 1},
                         headers={"X-CSRFToken": token}).status_code == 200
    bad = security.post("/api/v1/alerts/rules/test", json={"rule": {**definition, "query": "actor.id:"}},
                        headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "query"
    assert bad.get_json()["error"]["position"] is not None
    assert client.post("/api/v1/alerts/rules/test", json={"rule_id": FILE_RULE},
                       headers=read_headers).status_code == 403


def test_a_tested_rule_grouped_by_a_personal_field_is_masked_for_roles_that_do_not_see_it(
        persona, client, ingest_headers):
    base = now_ms() // MIN * MIN
    events = [{**e, "actor": {**e["actor"], "email": "niamh.virtanen44@example.com"}}
              for e in failed_logins("p-5", base - 30 * MIN, 8)]
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).get_json()["accepted"] == 8
    definition = {"id": "t", "name": "t", "kind": "threshold", "query": "event.action:login_failed",
                  "window": "10m", "threshold": 5, "group_by": "actor.email"}
    shown = {}
    for role in ("administrator", "security"):
        reader = persona(role, f"{role[:3]}-tester")
        token = csrf_token(html_of(reader.get("/alerts/rules/new")))
        body = reader.post("/api/v1/alerts/rules/test", json={"rule": definition, "hours": 1},
                           headers={"X-CSRFToken": token}).get_json()
        (window,) = body["windows"]
        html = html_of(post(reader, "/alerts/rules/new", rule_form(preview="1", group_by="actor.email"),
                            page="/alerts/rules/new"))
        shown[role] = (window, html)
    window, html = shown["administrator"]
    assert window["group"] != "niamh.virtanen44@example.com" and "niamh.virtanen44" not in str(window)
    assert "niamh.virtanen44@example.com" not in html
    window, html = shown["security"]                  # security sees personal fields
    assert window["group"] == "niamh.virtanen44@example.com" and "niamh.virtanen44@example.com" in html


# -- the active page: acknowledge, mute, unmute, delivery failures ------------------------------------

def test_acknowledge_and_mute_from_the_active_page(ops, services, alerts):
    inst = fire(alerts, make_rule())
    html = html_of(ops.get("/alerts"))
    assert "Brute-force logins against one account" in html and FILE_RULE in html and "p-9" in html
    assert "firing" in html and "<strong>27</strong> against threshold 10" in html
    evidence = unescape(re.search(r'<a class="as-search" href="([^"]+)">evidence', html).group(1))
    assert parse_qs(urlsplit(evidence).query)["q"] == ['event.action:login_failed AND actor.id:"p-9"']
    assert f'action="/alerts/{inst.id}/acknowledge"' in html and 'value="ops-olga"' in html   # owner defaults to me
    assert "p-9" in html_of(ops.get(f"/alerts?rule_id={FILE_RULE}"))
    assert "No active alerts of this rule" in html_of(ops.get("/alerts?rule_id=provider-silence"))
    assert f'href="/alerts?rule_id={FILE_RULE}">1</a>' in html_of(ops.get("/alerts/rules"))

    response = post(ops, f"/alerts/{inst.id}/acknowledge", {"owner": "", "comment": "looking into it"})
    assert response.status_code == 302
    inst = alerts.instance(inst.id)
    assert (inst.ack_owner, inst.acked_by, inst.ack_comment) == ("ops-olga", "ops-olga", "looking into it")
    html = html_of(ops.get("/alerts"))
    assert "owner <strong>ops-olga</strong>: looking into it" in html and "Withdraw acknowledgement" in html
    assert post(ops, f"/alerts/{inst.id}/acknowledge", {"owner": "nobody-here"}).status_code == 400

    before = now_ms()
    response = post(ops, f"/alerts/{inst.id}/mute", {"duration": "4h", "scope": "group", "comment": "known issue"})
    assert response.status_code == 302
    inst = alerts.instance(inst.id)
    assert to_dt(before) + timedelta(hours=4) <= inst.muted_until <= to_dt(now_ms()) + timedelta(hours=4)
    [mute] = alerts.mutes()
    assert (mute.rule_id, mute.group_key, mute.created_by, mute.comment) == (FILE_RULE, "p-9", "ops-olga", "known issue")
    html = html_of(ops.get("/alerts"))
    assert "by ops-olga: known issue" in html and "Mutes in force" in html
    assert post(ops, f"/alerts/{inst.id}/mute", {"duration": "custom", "until": "now-1h"}).status_code == 400
    assert post(ops, f"/alerts/{inst.id}/mute", {"duration": "forever"}).status_code == 400

    assert post(ops, f"/alerts/{inst.id}/unmute", {"scope": "group"}).status_code == 302
    assert alerts.instance(inst.id).muted_until is None and alerts.mutes() == []
    assert post(ops, f"/alerts/{inst.id}/unacknowledge", {"comment": "handing over"}).status_code == 302
    assert alerts.instance(inst.id).acked_at is None

    history = [(h.action, h.actor) for h in reversed(alerts.history(instance_id=inst.id))]
    assert history[-4:] == [("acknowledged", "ops-olga"), ("muted", "ops-olga"), ("unmuted", "ops-olga"),
                            ("unacknowledged", "ops-olga")]
    html = html_of(ops.get(f"/alerts/history?rule_id={FILE_RULE}"))
    assert "ops-olga" in html and "owner ops-olga: looking into it" in html and "pending → firing" in html
    assert "handing over" in html
    assert [e["actor"]["id"] for e in audit_events(services, "alert_muted")] == ["ops-olga"]

    # a custom mute of the whole rule, lifted from the mutes table
    post(ops, f"/alerts/{inst.id}/mute", {"duration": "custom", "until": "now+90m", "scope": "rule"})
    [mute] = alerts.mutes()
    assert mute.group_key is None and abs((mute.until - to_dt(now_ms())).total_seconds() - 5400) < 60
    assert "Unmute the rule" in html_of(ops.get("/alerts"))
    assert post(ops, f"/alerts/mutes/{mute.id}/lift").status_code == 302 and alerts.mutes() == []
    assert post(ops, f"/alerts/mutes/{mute.id}/lift").status_code == 404
    assert post(ops, "/alerts/999999/acknowledge", {"owner": ""}).status_code == 404


def test_resolved_alerts_are_in_the_history_not_on_the_active_page(ops, alerts):
    rule = make_rule()
    inst = fire(alerts, rule)
    moment = now_ms()
    alerts.apply(rule, Evaluation(rule=rule, now_ms=moment, findings=[]), moment)
    assert "No active alerts" in html_of(ops.get("/alerts"))
    html = html_of(ops.get("/alerts/history"))
    assert f'href="/alerts/history?alert={inst.id}"' in html and "firing → resolved" in html
    assert post(ops, f"/alerts/{inst.id}/acknowledge", {"owner": ""}).status_code == 409
    assert "resolved" in html_of(ops.get(f"/alerts/history?alert={inst.id}"))


def test_a_permanent_delivery_failure_is_shown_on_the_alert(ops, services, alerts):
    rule = make_rule("notifies-nowhere", notify=("gone",))
    inst = fire(alerts, rule)
    report = deliver_due(alerts, services.store, services.settings, now_ms(), notifiers={})
    assert report.failed == 1
    html = html_of(ops.get("/alerts"))
    card = html[html.index(f'id="alert-{inst.id}"'):]
    assert "delivery failed" in card
    assert "gone: no destination named &#39;gone&#39; (permanent)" in card
    assert "firing to gone" in card                                            # the failed delivery, listed


def test_hostile_rule_and_group_values_are_escaped(security, services, alerts):
    hostile_name = '<script>alert("name")</script>'
    hostile_query = 'message:"<img src=x onerror=alert(1)>"'
    response = post(security, "/alerts/rules/new",
                    rule_form(id="hostile", name=hostile_name, query=hostile_query, description="<b>bold</b>"),
                    page="/alerts/rules/new")
    assert response.status_code == 302
    rule = alerts.ui_rules()[0][0]
    fire(alerts, rule, group='"><svg onload=alert(2)>')
    post(security, f"/alerts/{alerts.active()[0].id}/acknowledge", {"owner": "", "comment": "<i>ack</i>"})
    for page in ("/alerts", "/alerts/rules", "/alerts/history", "/alerts/rules/hostile/edit", "/alerts/maintenance"):
        html = html_of(security.get(page))
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html, page
        assert "<b>bold" not in html and "<i>ack" not in html, page
    html = html_of(security.get("/alerts"))
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in html and "&lt;i&gt;ack&lt;/i&gt;" in html
    rules_html = html_of(security.get("/alerts/rules"))
    assert "message:&#34;&lt;img src=x onerror=alert(1)&gt;&#34;" in rules_html
    # a bad query with markup: the caret line escapes it too
    response = post(security, "/alerts/rules/new", rule_form(id="h2", query="<script>x</script> AND"),
                    page="/alerts/rules/new")
    assert response.status_code == 400 and "<script>x" not in html_of(response)


def test_personal_group_values_are_masked_for_roles_that_do_not_see_them(persona, services, alerts):
    definition = {"id": "per-ip", "name": "Per address", "kind": "threshold", "query": "event.action:login_failed",
                  "window": "10m", "threshold": 10, "group_by": "source.ip"}
    alerts.save_ui_rule(definition, by="sec-sara")
    rule = alerts.ui_rules()[0][0]
    fire(alerts, rule, group="203.0.113.77")
    operations, security = persona("operations"), persona("security")
    for page in ("/alerts", "/alerts/history"):
        html = html_of(operations.get(page))
        assert "203.0.*.*" in html and "203.0.113.77" not in html, page       # nor in the evidence link
    html = html_of(operations.get("/alerts"))
    assert "the group's value is personal data" in html
    link = unescape(re.search(r'<a class="as-search" href="([^"]+)">evidence', html).group(1))
    assert parse_qs(urlsplit(link).query)["q"] == ["event.action:login_failed"]
    assert "203.0.113.77" in html_of(security.get("/alerts"))
    # muting it: the audit event (which every searching role reads) holds the masked value only
    inst = alerts.active()[0]
    assert post(security, f"/alerts/{inst.id}/mute", {"duration": "1h", "scope": "group"}).status_code == 302
    [event] = audit_events(services, "alert_muted")
    assert "203.0.113.77" not in str(event) and "group 203.0.*.*" in event["message"]
    assert post(operations, f"/alerts/{inst.id}/unmute", {"scope": "group"}).status_code == 302
    assert "203.0.113.77" not in html_of(operations.get("/alerts")) and alerts.mutes() == []
    assert "203.0.113.77" not in str(audit_events(services, "alert_unmuted"))
    # an alert whose rule is no longer defined: its field is unknown, so its value is masked
    alerts.delete_ui_rule("per-ip", by="sec-sara")
    html = html_of(operations.get("/alerts"))
    assert "2***" in html and "203.0.113" not in html and "rule no longer defined" in html


# -- maintenance windows, destinations --------------------------------------------------------------

def test_maintenance_windows_are_added_listed_and_ended_early(ops, services, alerts):
    response = post(ops, "/alerts/maintenance", {"rule_id": "integration-failing-per-provider",
                                                 "group_pattern": "pragmatic*", "start": "now", "end": "now+2h",
                                                 "reason": "Pragmatic's announced maintenance"},
                    page="/alerts/maintenance")
    assert response.status_code == 302
    [window] = alerts.maintenance_windows()
    assert (window.rule_id, window.group_pattern, window.created_by) == ("integration-failing-per-provider",
                                                                         "pragmatic*", "ops-olga")
    html = html_of(ops.get("/alerts/maintenance"))
    assert "Pragmatic&#39;s announced maintenance" in html and "in force" in html and "End now" in html
    assert "Maintenance windows in force" in html_of(ops.get("/alerts"))
    response = post(ops, "/alerts/maintenance", {"end": "now+1h", "reason": "no scope"}, page="/alerts/maintenance")
    assert response.status_code == 400 and "needs a rule, a group pattern, or both" in html_of(response)
    response = post(ops, "/alerts/maintenance", {"rule_id": "nope", "end": "now+1h", "reason": "x"},
                    page="/alerts/maintenance")
    assert response.status_code == 400
    response = post(ops, "/alerts/maintenance", {"group_pattern": "*", "end": "tomorrow", "reason": "x"},
                    page="/alerts/maintenance")
    assert response.status_code == 400 and "is not a time" in html_of(response)

    before = to_dt(now_ms())
    assert post(ops, f"/alerts/maintenance/{window.id}/end", page="/alerts/maintenance").status_code == 302
    [window] = alerts.maintenance_windows()
    assert before <= window.ends_at <= to_dt(now_ms()) and alerts.maintenance_windows(active_at_ms=now_ms()) == []
    assert [h.action for h in alerts.history(rule_id="integration-failing-per-provider")][:2] == [
        "maintenance_ended", "maintenance_added"]
    assert post(ops, f"/alerts/maintenance/{window.id}/end", page="/alerts/maintenance").status_code == 409
    # one that has not started is cancelled
    post(ops, "/alerts/maintenance", {"group_pattern": "evolution", "start": "now+1d", "end": "now+2d",
                                      "reason": "planned"}, page="/alerts/maintenance")
    upcoming = next(w for w in alerts.maintenance_windows() if w.group_pattern == "evolution")
    assert post(ops, f"/alerts/maintenance/{upcoming.id}/end", page="/alerts/maintenance").status_code == 302
    assert count(services, MaintenanceWindow) == 1
    assert len(audit_events(services, "maintenance_window_added")) == 2


def test_destinations_never_show_their_secrets(persona, services, alerts):
    admin = persona("administrator", "root")
    response = post(admin, "/alerts/destinations", {"name": "ops-webhook", "kind": "webhook",
                                                    "target": "https://hooks.example.com/platlogs"},
                    page="/alerts/destinations")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code class="secret">([^<]+)</code>', html_of(response)).group(1)
    post(admin, "/alerts/destinations", {"name": "ops-slack", "kind": "slack",
                                         "target": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"},
         page="/alerts/destinations")
    html = html_of(admin.get("/alerts/destinations"))
    assert "ops-webhook" in html and "https://hooks.example.com/platlogs" in html and "ops-slack" in html
    assert secret not in html and "XXXXSECRET" not in html and "https://hooks.slack.com/…" in html
    response = post(admin, "/alerts/destinations", {"name": "ops-webhook", "kind": "email", "target": "a@example.com"},
                    page="/alerts/destinations")
    assert response.status_code == 409                                        # replacing needs the box ticked
    response = post(admin, "/alerts/destinations", {"name": "bad", "kind": "email", "target": "not-an-address"},
                    page="/alerts/destinations")
    assert response.status_code == 400 and "e-mail addresses" in html_of(response)
    events = audit_events(services, "alert_destination_created")
    assert len(events) == 2 and secret not in str(events) and "XXXXSECRET" not in str(events)
    assert {"field": "secret"} in events[0]["changes"] or {"field": "secret"} in events[1]["changes"]

    assert post(admin, "/alerts/destinations/ops-slack/delete", page="/alerts/destinations").status_code == 302
    assert [d.name for d in destinations(alerts)] == ["ops-webhook"]
    assert len(audit_events(services, "alert_destination_deleted")) == 1
    # the rule form offers the names; a rule naming an unknown one is refused (above)
    assert "configured: ops-webhook" in html_of(admin.get("/alerts/rules/new"))


# -- who may do what ----------------------------------------------------------------------------------

def test_roles_without_the_permission_are_refused(persona, services, alerts):
    inst = fire(alerts, make_rule())
    manager = persona("manager")                     # sees alerts, may not act on them
    assert manager.get("/alerts").status_code == 200
    html = html_of(manager.get("/alerts"))
    assert "Acknowledge…" not in html and "Mute…" not in html and 'href="/alerts/maintenance"' not in html
    response = post(manager, f"/alerts/{inst.id}/acknowledge", {"owner": "", "comment": "x"})
    assert response.status_code == 403 and alerts.instance(inst.id).acked_at is None
    assert post(manager, f"/alerts/{inst.id}/mute", {"duration": "1h"}).status_code == 403
    assert alerts.mutes() == []

    ops = persona("operations")                      # acts on alerts, may not write rules
    assert ops.get("/alerts/rules/new").status_code == 403
    response = post(ops, "/alerts/rules/new", rule_form())
    assert response.status_code == 403 and count(services, UIRule) == 0
    assert ops.get("/alerts/destinations").status_code == 403
    assert "New rule" not in html_of(ops.get("/alerts/rules"))

    security = persona("security")                   # writes rules, does not manage destinations
    assert post(security, "/alerts/destinations", {"name": "x", "kind": "email", "target": "a@example.com"}
                ).status_code == 403
    assert 'href="/alerts/destinations"' not in html_of(security.get("/alerts"))
    assert persona("support").get("/alerts").status_code == 403
    # no CSRF token: refused
    assert persona("technical").post(f"/alerts/{inst.id}/acknowledge", data={"owner": ""}).status_code == 400
