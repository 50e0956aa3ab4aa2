"""The alert lifecycle (app/alerts/lifecycle.py) on SQLite and on a real PostgreSQL: pending ->
firing -> resolved, dedupe and reminders, acknowledge, mute, maintenance windows, the history,
rules made in the back office. Findings are made here; time is the moment passed in."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from test_meta_db import pg_schema_url  # noqa: F401  (fixture)

from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.meta import MetaDB
from app.meta.alert_tables import AlertInstance, iso, to_dt

MIN = 60_000
T0 = 29_833_333 * MIN           # 2026-09-21T…Z, on a minute


@pytest.fixture(params=["sqlite", "postgres"])
def meta_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def alerts(meta_url):
    db = MetaDB(meta_url)
    db.create_all()
    yield Alerts(db)
    db.engine.dispose()


def make_rule(**changes) -> Rule:
    base = Rule(id="failed-logins", name="Failed logins per player", kind="threshold",
                query="event.type:login AND event.outcome:failure", window_s=300, threshold=20,
                group_by="actor.id", notify=("ops",), renotify_s=0)
    return dataclasses.replace(base, **changes)


def finding(state: str, group: str | None = "p-1", value: float | None = 27.0, **extra) -> Finding:
    extra.setdefault("detail", f"{value} failed logins in 5 min > 20" if state == "alert" else "")
    return Finding(rule_id="failed-logins", group=group, state=state, value=value, threshold=20.0, **extra)


def run(alerts: Alerts, rule: Rule, moment: int, *findings: Finding, error: str | None = None, catching_up=False):
    return alerts.apply(rule, Evaluation(rule=rule, now_ms=moment, findings=list(findings), error=error), moment,
                        catching_up=catching_up)


def actions(alerts: Alerts, instance_id: int) -> list[str]:
    return [h.action for h in reversed(alerts.history(instance_id=instance_id))]


def deliveries(alerts: Alerts, instance_id: int | None = None) -> list[tuple[str, str]]:
    return [(d.kind, d.destination) for d in alerts.deliveries(instance_id)]


# -- pending -> firing -> resolved -----------------------------------------------------------------

def test_an_alert_fires_at_once_and_notifies_once(alerts):
    rule = make_rule()
    applied = run(alerts, rule, T0, finding("alert", sample_ids=("e3", "e2", "e1"), search_query="q",
                                            window_start_ms=T0 - 300_000, window_end_ms=T0))
    assert [(t.from_state, t.to_state) for t in applied.transitions] == [(None, "pending"), ("pending", "firing")]
    assert applied.enqueued == 1
    inst = alerts.open_instance("failed-logins", "p-1")
    assert inst.state == "firing" and inst.group == "p-1" and inst.value == 27.0 and inst.threshold == 20.0
    assert inst.fired_at == inst.first_seen_at == to_dt(T0) and inst.fired_at.tzinfo is not None
    assert inst.samples == ["e3", "e2", "e1"] and inst.notify_count == 1 and inst.last_notified_at == to_dt(T0)
    assert deliveries(alerts, inst.id) == [("firing", "ops")]
    history = list(reversed(alerts.history(instance_id=inst.id)))
    assert [(h.action, h.from_state, h.to_state, h.actor) for h in history] == [
        ("opened", None, "pending", "scheduler"), ("fired", "pending", "firing", "scheduler"),
        ("notified", "firing", "firing", "scheduler")]
    assert "27.0 failed logins" in history[0].comment and history[2].comment == "firing to ops"
    payload = alerts.deliveries(inst.id)[0].data
    assert payload["rule"]["id"] == "failed-logins" and payload["alert"]["value"] == 27.0
    assert payload["evidence"] == {"sample_ids": ["e3", "e2", "e1"], "search_query": "q",
                                   "window_start_ms": T0 - 300_000, "window_end_ms": T0}

    # still alerting: the value moves, no second notification (dedupe), no history noise
    applied = run(alerts, rule, T0 + MIN, finding("alert", value=31.0))
    assert applied.transitions == [] and applied.enqueued == 0
    inst = alerts.instance(inst.id)
    assert inst.value == 31.0 and inst.last_seen_at == to_dt(T0 + MIN) and inst.notify_count == 1
    assert len(alerts.history(instance_id=inst.id)) == 3


def test_pending_until_the_condition_has_held_for_pending_s(alerts):
    rule = make_rule(pending_s=120)
    run(alerts, rule, T0, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    assert inst.state == "pending" and deliveries(alerts) == []
    run(alerts, rule, T0 + MIN, finding("alert"))
    run(alerts, rule, T0 + MIN + 30_000, finding("unknown"))          # no answer: no change
    assert alerts.instance(inst.id).state == "pending"
    applied = run(alerts, rule, T0 + 2 * MIN, finding("alert"))
    inst = alerts.instance(inst.id)
    assert inst.state == "firing" and inst.fired_at == to_dt(T0 + 2 * MIN) and inst.first_seen_at == to_dt(T0)
    assert applied.enqueued == 1
    assert actions(alerts, inst.id) == ["opened", "fired", "notified"]
    assert "held 120 s" in alerts.history(instance_id=inst.id)[1].comment


def test_a_pending_alert_that_clears_closes_without_notification(alerts):
    rule = make_rule(pending_s=300)
    run(alerts, rule, T0, finding("alert"))
    applied = run(alerts, rule, T0 + MIN, finding("ok", value=3.0))
    assert [(t.from_state, t.to_state) for t in applied.transitions] == [("pending", "resolved")]
    inst = alerts.instances("failed-logins")[0]
    assert inst.state == "resolved" and inst.fired_at is None and inst.resolved_at == to_dt(T0 + MIN)
    assert deliveries(alerts) == []
    assert "cleared before firing" in alerts.history(instance_id=inst.id)[0].comment


def test_renotify_after_the_interval_only(alerts):
    rule = make_rule(renotify_s=600)
    run(alerts, rule, T0, finding("alert"))
    for minute in range(1, 10):
        assert run(alerts, rule, T0 + minute * MIN, finding("alert")).enqueued == 0
    assert run(alerts, rule, T0 + 10 * MIN, finding("alert")).enqueued == 1
    assert run(alerts, rule, T0 + 11 * MIN, finding("alert")).enqueued == 0
    assert [k for k, _ in deliveries(alerts)] == ["firing", "renotify"]
    # catching up on missed moments: no reminder about the past
    assert run(alerts, rule, T0 + 30 * MIN, finding("alert"), catching_up=True).enqueued == 0
    assert run(alerts, rule, T0 + 31 * MIN, finding("alert")).enqueued == 1
    assert alerts.open_instance("failed-logins", "p-1").notify_count == 3


def test_renotify_zero_means_never(alerts):
    rule = make_rule(renotify_s=0)
    run(alerts, rule, T0, finding("alert"))
    for hour in range(1, 25):
        run(alerts, rule, T0 + hour * 60 * MIN, finding("alert"))
    assert deliveries(alerts) == [("firing", "ops")]


def test_ok_resolves_and_notifies_the_same_destinations_once(alerts):
    rule = make_rule(notify=("ops", "oncall-mail"))
    run(alerts, rule, T0, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    changed = make_rule(notify=("ops",))   # the rule was edited meanwhile: the resolution still reaches both
    applied = run(alerts, changed, T0 + MIN, finding("ok", value=2.0, detail="2 failed logins"))
    assert [(t.from_state, t.to_state) for t in applied.transitions] == [("firing", "resolved")]
    inst = alerts.instance(inst.id)
    assert inst.state == "resolved" and inst.resolved_at == to_dt(T0 + MIN) and inst.value == 27.0
    assert sorted(deliveries(alerts, inst.id)) == [("firing", "oncall-mail"), ("firing", "ops"),
                                                   ("resolved", "oncall-mail"), ("resolved", "ops")]
    resolved = [d for d in alerts.deliveries(inst.id) if d.kind == "resolved"][0].data
    assert resolved["event"] == "resolved" and resolved["alert"]["state"] == "resolved"
    run(alerts, changed, T0 + 2 * MIN, finding("ok"))
    assert len(alerts.deliveries()) == 4
    assert alerts.open_instance("failed-logins", "p-1") is None
    # a new episode is a new instance
    run(alerts, changed, T0 + 3 * MIN, finding("alert"))
    again = alerts.open_instance("failed-logins", "p-1")
    assert again.id != inst.id and again.state == "firing"
    assert deliveries(alerts, again.id) == [("firing", "ops")]
    assert [i.state for i in alerts.instances("failed-logins")] == ["firing", "resolved"]


def test_unknown_and_failed_evaluations_change_nothing_and_record_nothing(alerts):
    rule = make_rule()
    run(alerts, rule, T0, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    before = len(alerts.history())
    run(alerts, rule, T0 + MIN, finding("unknown", value=None))
    run(alerts, rule, T0 + 2 * MIN, error="store unreachable")        # no findings at all
    assert alerts.instance(inst.id).state == "firing"
    assert len(alerts.history()) == before and len(alerts.deliveries()) == 1
    assert alerts.rule_states()["failed-logins"].last_error == "store unreachable"
    run(alerts, rule, T0 + 3 * MIN, finding("alert"))
    assert alerts.rule_states()["failed-logins"].last_error is None


def test_a_group_the_evaluation_no_longer_lists_is_resolved(alerts):
    rule = make_rule()
    run(alerts, rule, T0, finding("alert", "p-1"), finding("alert", "p-2"))
    assert sorted(i.group for i in alerts.active()) == ["p-1", "p-2"]
    applied = run(alerts, rule, T0 + MIN, finding("alert", "p-1"))
    assert [(t.group, t.to_state) for t in applied.transitions] == [("p-2", "resolved")]
    assert [i.group for i in alerts.active()] == ["p-1"]


def test_an_ungrouped_rule_has_one_instance(alerts):
    rule = make_rule(group_by=None)
    run(alerts, rule, T0, finding("alert", group=None))
    inst = alerts.open_instance("failed-logins")
    assert inst.group is None and inst.group_key == "" and inst.as_dict()["group"] is None


def test_one_open_instance_per_rule_and_group(alerts):
    run(alerts, make_rule(), T0, finding("alert"))
    with alerts.Session() as s:
        s.add(AlertInstance(rule_id="failed-logins", group_key="p-1", state="pending", severity="warning",
                            first_seen_at=to_dt(T0), last_seen_at=to_dt(T0)))
        with pytest.raises(IntegrityError):
            s.commit()


def test_findings_of_an_older_moment_than_the_last_applied_are_dropped(alerts):
    rule = make_rule()
    run(alerts, rule, T0 + 2 * MIN, finding("alert"))
    applied = run(alerts, rule, T0 + MIN, finding("ok"))
    assert applied.stale and applied.transitions == []
    assert alerts.open_instance("failed-logins", "p-1").state == "firing"
    assert alerts.last_moments() == {"failed-logins": T0 + 2 * MIN}


# -- acknowledge, mute, maintenance ------------------------------------------------------------------

def test_acknowledge_stops_reminders_and_is_recorded_with_who(alerts):
    rule = make_rule(renotify_s=60)
    run(alerts, rule, T0, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    acked = alerts.acknowledge(inst.id, "olga", "calling the player", by="sam", at_ms=T0 + 30_000)
    assert acked.ack_owner == "olga" and acked.acked_by == "sam" and acked.ack_comment == "calling the player"
    for minute in range(1, 6):
        run(alerts, rule, T0 + minute * MIN, finding("alert"))
    assert deliveries(alerts) == [("firing", "ops")]
    entry = [h for h in alerts.history(instance_id=inst.id) if h.action == "acknowledged"][0]
    assert entry.actor == "sam" and entry.comment == "owner olga: calling the player" and entry.at == to_dt(T0 + 30_000)
    suppressed = [h for h in alerts.history(instance_id=inst.id) if h.action == "notification_suppressed"]
    assert len(suppressed) == 1 and "acknowledged by olga" in suppressed[0].comment   # once, not every minute
    alerts.unacknowledge(inst.id, by="olga", comment="not mine", at_ms=T0 + 6 * MIN)
    assert run(alerts, rule, T0 + 7 * MIN, finding("alert")).enqueued == 1     # reminders again
    # resolution still reaches the destinations of an acknowledged alert
    alerts.acknowledge(inst.id, "olga", at_ms=T0 + 8 * MIN)
    run(alerts, rule, T0 + 9 * MIN, finding("ok"))
    assert deliveries(alerts)[-1] == ("resolved", "ops")
    with pytest.raises(ValueError, match="resolved"):
        alerts.acknowledge(inst.id, "olga")
    with pytest.raises(LookupError):
        alerts.acknowledge(999_999, "olga")
    with pytest.raises(ValueError, match="username"):
        alerts.acknowledge(inst.id, "")


def test_acknowledged_while_pending_holds_back_the_firing_notification(alerts):
    rule = make_rule(pending_s=120)
    run(alerts, rule, T0, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    alerts.acknowledge(inst.id, "olga", "known: load test", at_ms=T0 + 1000)
    applied = run(alerts, rule, T0 + 2 * MIN, finding("alert"))
    assert applied.enqueued == 0 and applied.suppressed == [(inst.id, "acknowledged by olga")]
    assert alerts.instance(inst.id).state == "firing" and alerts.instance(inst.id).suppressed == "acknowledged by olga"


def test_mute_holds_back_notifications_until_it_ends(alerts):
    rule = make_rule()
    mute = alerts.mute("failed-logins", "p-1", T0 + 10 * MIN, by="sec-anna", comment="known abuser", at_ms=T0)
    assert mute.until == to_dt(T0 + 10 * MIN)
    run(alerts, rule, T0, finding("alert"), finding("alert", "p-2"))
    inst = alerts.open_instance("failed-logins", "p-1")
    assert inst.state == "firing" and inst.muted_until == to_dt(T0 + 10 * MIN)
    assert deliveries(alerts) == [("firing", "ops")]                  # p-2 only
    assert alerts.deliveries()[0].instance_id == alerts.open_instance("failed-logins", "p-2").id
    for minute in range(1, 10):
        assert run(alerts, rule, T0 + minute * MIN, finding("alert"), finding("alert", "p-2")).enqueued == 0
    suppressed = [h for h in alerts.history(instance_id=inst.id) if h.action == "notification_suppressed"]
    assert len(suppressed) == 1 and f"muted by sec-anna until {iso(T0 + 10 * MIN)}" in suppressed[0].comment
    # the mute ends while it still fires: the held-back notification goes out, once
    assert run(alerts, rule, T0 + 10 * MIN, finding("alert"), finding("alert", "p-2")).enqueued == 1
    assert run(alerts, rule, T0 + 11 * MIN, finding("alert"), finding("alert", "p-2")).enqueued == 0
    assert deliveries(alerts, inst.id) == [("firing", "ops")]
    assert [m.id for m in alerts.mutes(T0 + 5 * MIN)] == [mute.id] and alerts.mutes(T0 + 10 * MIN) == []
    with pytest.raises(ValueError, match="future"):
        alerts.mute("failed-logins", None, T0, by="x", at_ms=T0)


def test_a_rule_wide_mute_covers_every_group_and_unmute_lifts_it(alerts):
    rule = make_rule()
    alerts.mute("failed-logins", None, T0 + 60 * MIN, by="sec-anna", at_ms=T0)
    run(alerts, rule, T0, finding("alert", "p-1"), finding("alert", "p-9"))
    assert deliveries(alerts) == []
    assert alerts.unmute("failed-logins", by="sec-anna", comment="done", at_ms=T0 + MIN) == 1
    assert all(i.muted_until is None for i in alerts.active())
    unmuted = [h for h in alerts.history(rule_id="failed-logins") if h.action == "unmuted"]
    assert {h.group_key for h in unmuted} == {"p-1", "p-9"} and unmuted[0].actor == "sec-anna"
    assert run(alerts, rule, T0 + 2 * MIN, finding("alert", "p-1"), finding("alert", "p-9")).enqueued == 2
    assert alerts.unmute("failed-logins", by="sec-anna") == 0


def test_a_mute_outlives_the_instance(alerts):
    rule = make_rule()
    alerts.mute("failed-logins", "p-1", T0 + 60 * MIN, by="sec-anna", at_ms=T0)
    run(alerts, rule, T0, finding("alert"))
    run(alerts, rule, T0 + MIN, finding("ok"))
    run(alerts, rule, T0 + 2 * MIN, finding("alert"))
    assert deliveries(alerts) == []     # neither episode, nor the first one's resolution
    muted_entry = [h for h in alerts.history(rule_id="failed-logins") if h.action == "muted"][0]
    assert muted_entry.instance_id is None and muted_entry.group_key == "p-1"   # no instance was open then


def test_maintenance_window_for_a_provider(alerts):
    rule = make_rule(id="provider-errors", group_by="integration.provider")
    window = alerts.add_maintenance(rule_id=None, group_pattern="pragmatic*", start=T0 + MIN, end=T0 + 5 * MIN,
                                    reason="Pragmatic Play announced maintenance", by="ops-olga", at_ms=T0)
    f = lambda state, group: dataclasses.replace(finding(state, group), rule_id="provider-errors")   # noqa: E731
    assert run(alerts, rule, T0 + MIN, f("alert", "pragmatic-play"), f("alert", "evolution")).enqueued == 1
    pragmatic = alerts.open_instance("provider-errors", "pragmatic-play")
    assert pragmatic.state == "firing" and deliveries(alerts, pragmatic.id) == []
    assert f"maintenance window #{window.id}" in pragmatic.suppressed and "announced" in pragmatic.suppressed
    assert run(alerts, rule, T0 + 4 * MIN, f("alert", "pragmatic-play"), f("alert", "evolution")).enqueued == 0
    # the window is [start, end): at its end the alert, still firing, is notified
    assert run(alerts, rule, T0 + 5 * MIN, f("alert", "pragmatic-play"), f("alert", "evolution")).enqueued == 1
    assert deliveries(alerts, pragmatic.id) == [("firing", "ops")]
    assert [w.id for w in alerts.maintenance_windows(T0 + MIN)] == [window.id]
    assert alerts.maintenance_windows(T0 + 5 * MIN) == []
    added = [h for h in alerts.history() if h.action == "maintenance_added"][0]
    assert added.actor == "ops-olga" and added.group_key == "pragmatic*"
    assert alerts.delete_maintenance(window.id, by="ops-olga", at_ms=T0 + 6 * MIN)
    assert alerts.maintenance_windows() == []


def test_maintenance_suppresses_the_resolution_too(alerts):
    rule = make_rule()
    run(alerts, rule, T0, finding("alert"))
    alerts.add_maintenance(rule_id="failed-logins", group_pattern=None, start=T0 + MIN, end=T0 + 9 * MIN,
                           reason="auth service upgrade", by="ops-olga", at_ms=T0)
    applied = run(alerts, rule, T0 + 2 * MIN, finding("ok"))
    assert applied.enqueued == 0 and applied.suppressed
    assert deliveries(alerts) == [("firing", "ops")]


def test_maintenance_window_validation(alerts):
    with pytest.raises(ValueError, match="rule, a group pattern"):
        alerts.add_maintenance(rule_id=None, group_pattern=None, start=T0, end=T0 + MIN, reason="x", by="o")
    with pytest.raises(ValueError, match="after start"):
        alerts.add_maintenance(rule_id="r", group_pattern=None, start=T0, end=T0, reason="x", by="o")
    with pytest.raises(ValueError, match="reason"):
        alerts.add_maintenance(rule_id="r", group_pattern=None, start=T0, end=T0 + MIN, reason=" ", by="o")


def test_a_rule_without_destinations_records_it_once(alerts):
    rule = make_rule(notify=())
    for minute in range(5):
        run(alerts, rule, T0 + minute * MIN, finding("alert"))
    inst = alerts.open_instance("failed-logins", "p-1")
    assert inst.suppressed == "the rule names no destinations"
    assert actions(alerts, inst.id) == ["opened", "fired", "notification_suppressed"]


def test_times_come_back_as_aware_utc_and_as_dict_is_plain(alerts):
    run(alerts, make_rule(), T0, finding("alert"))
    data = alerts.active()[0].as_dict()
    assert data["fired_at"] == iso(T0) and data["fired_at"].endswith("Z") and data["state"] == "firing"
    assert datetime.fromisoformat(data["fired_at"].replace("Z", "+00:00")) == datetime.fromtimestamp(T0 / 1000, UTC)
    assert alerts.history()[0].as_dict()["actor"] == "scheduler"


# -- rules made in the back office ---------------------------------------------------------------------

def fake_validate(data: dict) -> Rule:
    """Stands in for rules.validate_rule (written elsewhere)."""
    if not isinstance(data.get("threshold"), (int, float)):
        raise ValueError("threshold: a number")
    return Rule(**data)


def test_ui_rules_are_stored_validated_and_recorded(alerts):
    definition = {"id": "big-withdrawals", "name": "Big withdrawals", "kind": "threshold",
                  "query": "event.type:payment AND payment.amount:>10000", "window_s": 600, "threshold": 3}
    rule = alerts.save_ui_rule(definition, by="sec-anna", validate=fake_validate, at_ms=T0)
    assert rule.source == "ui" and rule.id == "big-withdrawals"
    alerts.save_ui_rule({**definition, "threshold": 5}, by="sec-bob", validate=fake_validate, at_ms=T0 + MIN)
    rows = alerts.ui_rule_rows()
    assert len(rows) == 1 and rows[0].data["threshold"] == 5 and rows[0].created_by == "sec-anna"
    assert rows[0].updated_by == "sec-bob"
    rules, errors = alerts.ui_rules(validate=fake_validate)
    assert [r.threshold for r in rules] == [5] and errors == []
    with pytest.raises(ValueError, match="threshold"):
        alerts.save_ui_rule({**definition, "threshold": "lots"}, by="sec-anna", validate=fake_validate)
    history = [(h.action, h.actor, h.comment) for h in reversed(alerts.history(rule_id="big-withdrawals"))]
    assert history == [("rule_created", "sec-anna", "Big withdrawals"),
                       ("rule_updated", "sec-bob", "changed: threshold")]
    # a validator grown stricter refuses a stored rule: reported, the others still run
    _, errors = alerts.ui_rules(validate=lambda d: (_ for _ in ()).throw(ValueError("kind: retired")))
    assert errors == ["rule big-withdrawals (made in the back office): kind: retired"]
    assert alerts.delete_ui_rule("big-withdrawals", by="sec-anna")
    assert not alerts.delete_ui_rule("big-withdrawals", by="sec-anna")
    assert alerts.ui_rule_rows() == [] and alerts.ui_rules() == ([], [])
