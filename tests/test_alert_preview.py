"""Testing a rule before saving (app/alerts/preview.py), on every backend: every position the
scheduler would evaluate over the range is judged — the same alerts as `evaluate` at each of
those moments, for every kind — with a handful of searches instead of one per position; a burst
between the old 15-minute samples is found; pending_s holds; a group_by field the matching events
lack is warned about."""
from __future__ import annotations

from dataclasses import replace

import pytest

from app.alerts.evaluate import evaluate
from app.alerts.model import Rule
from app.alerts.preview import positions, preview_rule

from test_alert_evaluate import MIN, NOW, call, ev, failed_login, spread

HOUR = 60 * MIN


def rule(**fields) -> Rule:
    base = dict(id="r", name="r", kind="threshold", query="event.action:login_failed", window_s=300, threshold=5)
    return Rule(**{**base, **fields})


class Counting:
    """The store, counting the searches asked of it (one per request, batched or not)."""

    def __init__(self, store):
        self.store, self.searches = store, 0

    def search(self, request):
        self.searches += 1
        return self.store.search(request)

    def search_many(self, requests):
        self.searches += len(requests)
        many = getattr(self.store, "search_many", None)
        if many is not None:
            return many(requests)
        out = []
        for request in requests:
            try:
                out.append(self.store.search(request))
            except Exception as exc:   # noqa: BLE001 — as the stores' search_many reports it
                out.append(exc)
        return out


def every_position(r: Rule, store, end_ms: int, hours: int) -> dict:
    """What the scheduler would find: evaluate() at every position, group -> alerting moments."""
    out: dict = {}
    for moment in positions(end_ms, hours, 60):
        evaluation = evaluate(r, store, moment)
        assert evaluation.error is None, evaluation.error
        for finding in evaluation.findings:
            if finding.state == "alert":
                out.setdefault(finding.group, []).append(moment)
    return out


def test_positions_are_every_scheduler_moment():
    moments = positions(NOW + 30_000, 6, 60)
    assert len(moments) == 360 and moments[-1] == NOW and moments[0] == NOW - 359 * MIN
    assert all(b - a == MIN for a, b in zip(moments, moments[1:]))


def test_a_burst_between_the_old_samples_is_found_at_every_position(store):
    # the old test looked at [m - 5 min, m) every 15 minutes: a burst 8 minutes before a sample fell between
    burst = NOW - 2 * HOUR - 8 * MIN
    store.write([failed_login(t, "p-1") for t in spread(6, burst, burst + MIN)]
                + [failed_login(NOW - 30 * MIN, "p-2")])
    r = rule()
    counted = Counting(store)
    result = preview_rule(r, counted, NOW, hours=3)
    assert result.planned == result.evaluated == 180 and result.step_s == 60 and not result.stopped
    assert result.alerting_at == every_position(r, store, NOW, 3)
    assert result.alerting_at[None] == [burst + k * MIN for k in range(1, 6)]   # each window holding all six
    (window,) = result.windows
    assert (window.first_ms, window.last_ms, window.positions, window.peak) == (burst + MIN, burst + 5 * MIN, 5, 6)
    assert window.fires and window.fires_at_ms == burst + MIN
    assert "6 events in 5 min (more than 5)" in window.detail and len(window.sample_ids) == 5
    assert (window.window_start_ms, window.window_end_ms) == (burst + MIN - 5 * MIN, burst + 5 * MIN)
    assert counted.searches <= 4, counted.searches    # one histogram and the peak's evaluation, not 180 searches
    assert result.warnings == []


def test_grouped_threshold_equals_the_scheduler_at_every_position(store):
    r = rule(group_by="actor.id", window_s=600)
    store.write([failed_login(t, "p-1") for t in spread(7, NOW - 50 * MIN, NOW - 46 * MIN)]      # 7 > 5
                + [failed_login(t, "p-2") for t in spread(5, NOW - 20 * MIN, NOW - 19 * MIN)]    # 5: never
                + [failed_login(t, "p-3") for t in spread(12, NOW - 90 * MIN, NOW - 70 * MIN)]   # 6 per 10 min: sometimes
                + [failed_login(t, f"q-{t % 97}") for t in spread(40, NOW - 2 * HOUR, NOW)])     # many quiet ones
    counted = Counting(store)
    result = preview_rule(r, counted, NOW, hours=2)
    expected = every_position(r, store, NOW, 2)
    assert set(expected) == {"p-1", "p-3"}
    assert result.alerting_at == expected
    assert {w.group for w in result.windows} == {"p-1", "p-3"}
    assert counted.searches <= 12, counted.searches


def test_ratio_equals_the_scheduler_at_every_position(store):
    r = rule(kind="ratio", query="event.component:integration", failure_query="integration.status:timeout",
             window_s=600, threshold=0.2, min_count=5, group_by="integration.provider")
    statuses = ["timeout"] * 4 + ["ok"] * 6
    store.write([call(t, "pay-a", s) for t, s in zip(spread(10, NOW - 40 * MIN, NOW - 35 * MIN), statuses)]
                + [call(t, "pay-b", "ok") for t in spread(30, NOW - HOUR, NOW)]
                + [call(NOW - 10 * MIN, "pay-c", "timeout")])                          # 1 of 1: below min_count
    result = preview_rule(r, store, NOW, hours=1)
    assert result.alerting_at == every_position(r, store, NOW, 1)
    assert set(result.alerting_at) == {"pay-a"}
    ungrouped = replace(r, group_by=None)
    assert preview_rule(ungrouped, store, NOW, hours=1).alerting_at == every_position(ungrouped, store, NOW, 1)


def test_spike_and_absence_equal_the_scheduler_at_every_position(store):
    spike = rule(kind="spike", query="log.level:error", window_s=300, threshold=2, min_count=5, baseline_periods=2)
    store.write([ev(t, "error", log__level="error", service__name="wallet") for t in spread(20, NOW - HOUR, NOW)]
                + [ev(t, "error", log__level="error", service__name="wallet")
                   for t in spread(15, NOW - 25 * MIN, NOW - 23 * MIN)])
    counted = Counting(store)
    result = preview_rule(spike, counted, NOW, hours=1)
    assert result.alerting_at == every_position(spike, store, NOW, 1) and result.alerting_at
    assert result.evaluated == 60

    absence = rule(kind="absence", query="event.component:integration", group_by="integration.provider",
                   expected_groups=("pay-a", "pay-b"), threshold=1, window_s=600)
    store.write([call(t, "pay-a") for t in spread(30, NOW - HOUR, NOW)]
                + [call(t, "pay-b") for t in spread(10, NOW - HOUR, NOW - 30 * MIN)])
    result = preview_rule(absence, store, NOW, hours=1)
    assert result.alerting_at == every_position(absence, store, NOW, 1)
    assert result.alerting_at["pay-b"][-1] == NOW                   # silent since 30 minutes
    assert max(result.alerting_at["pay-a"]) < NOW - 50 * MIN         # only before its first event


def test_pending_holds_before_a_window_fires(store):
    store.write([failed_login(t, "p-1") for t in spread(6, NOW - HOUR, NOW - HOUR + MIN)])
    held = preview_rule(rule(pending_s=600), store, NOW, hours=2)
    (window,) = held.windows
    assert window.positions == 5 and not window.fires and window.fires_at_ms is None and held.firing == []
    (window,) = preview_rule(rule(pending_s=180), store, NOW, hours=2).windows
    assert window.fires and window.fires_at_ms == window.first_ms + 3 * MIN


def test_a_group_by_field_the_matching_events_lack_is_warned_about(store):
    store.write([failed_login(t, "p-1") for t in spread(8, NOW - 30 * MIN, NOW - 29 * MIN)])
    for event in (failed_login(NOW - 20 * MIN, "p-2"),):
        event.pop("actor")
        store.write([event])
    # failed_login has actor.ip, not source.ip: nothing would ever be counted per source.ip
    missing = preview_rule(rule(group_by="source.ip"), store, NOW, hours=1)
    (warning,) = missing.warnings
    assert "none of the 9 events" in warning and "source.ip" in warning
    assert missing.windows == []
    partly = preview_rule(rule(group_by="actor.id"), store, NOW, hours=1)
    (warning,) = partly.warnings
    assert "1 of the 9 events" in warning and "no actor.id" in warning
    assert preview_rule(rule(group_by="actor.ip"), store, NOW, hours=1).warnings == [warning.replace(
        "actor.id", "actor.ip")]
    assert preview_rule(rule(), store, NOW, hours=1).warnings == []    # ungrouped: nothing to warn about


@pytest.mark.parametrize("hours", [1, 24])
def test_searches_do_not_grow_with_the_positions(store, hours):
    store.write([failed_login(t, "p-1") for t in spread(6, NOW - 40 * MIN, NOW - 39 * MIN)])
    counted = Counting(store)
    result = preview_rule(rule(group_by="actor.id"), counted, NOW, hours=hours)
    assert result.evaluated == hours * 60 and len(result.windows) == 1
    assert counted.searches <= 8, counted.searches


def test_cli_alerts_test_calls_the_same_service(tmp_path):
    import json
    import time

    from click.testing import CliRunner

    from app import create_app
    from app.cli import main
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data")}
    app = create_app(env)
    now = time.time_ns() // 1_000_000 // MIN * MIN
    app.extensions["platlogs"].store.write([failed_login(t, "p-1") for t in spread(8, now - 50 * MIN, now - 49 * MIN)])
    app.extensions["platlogs"].close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "source.yaml").write_text("id: by-source\nname: By source\nkind: threshold\n"
                                       "query: event.action:login_failed\ngroup_by: source.ip\nwindow: 5m\nthreshold: 5\n")
    (rules / "all.yaml").write_text("id: all\nname: All\nkind: threshold\nquery: event.action:login_failed\n"
                                    "window: 5m\nthreshold: 5\n")
    runner = CliRunner()
    warned = runner.invoke(main, ["alerts", "test", "by-source", "--hours", "1", "--rules", str(rules)], env=env)
    assert warned.exit_code == 0, warned.output
    assert "warning: none of the 8 events" in warned.stderr and "source.ip" in warned.stderr
    fired = runner.invoke(main, ["alerts", "test", "all", "--hours", "2", "--rules", str(rules), "--format", "json"],
                          env=env)
    body = json.loads(fired.stdout)
    assert body["positions"] == body["evaluated"] == 120 and body["warnings"] == []
    (window,) = body["windows"]
    assert window["peak"] == 8 and window["positions"] == 5 and window["fires"]
    assert runner.invoke(main, ["alerts", "test", "nope", "--rules", str(rules)], env=env).exit_code != 0


def test_absence_learning_its_groups_equals_the_scheduler_and_skips_positions_without_history(store):
    from app.alerts.evaluate import WEEK_MS
    habit = rule(kind="absence", query="event.component:integration", group_by="integration.provider",
                 threshold=1, min_count=1, window_s=600, baseline_periods=2)
    usual = [call(t, "pay-a") for t in spread(24, NOW - 2 * HOUR, NOW)]
    store.write([call(t, "pay-a") for t in spread(12, NOW - HOUR, NOW - 20 * MIN)])     # silent for 20 minutes
    assert preview_rule(habit, store, NOW, hours=1).alerting_at == {}                 # no earlier week: no habit
    store.write([call(e["_ts"] - k * WEEK_MS, "pay-a") for k in (1, 2) for e in usual])   # two weeks of habit
    counted = Counting(store)
    result = preview_rule(habit, counted, NOW, hours=1)
    assert result.alerting_at == every_position(habit, store, NOW, 1)
    assert result.alerting_at["pay-a"][-1] == NOW and result.evaluated == 60
