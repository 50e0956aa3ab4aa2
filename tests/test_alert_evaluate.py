"""evaluate(rule, store, now_ms) on every backend, with time injected: each rule kind fires above
its line, stays quiet just below it and resolves when the window moves on; grouping, ratio's
minimum volume, hour-of-week baselines, absence and "unknown". Then the shipped rules over a
generated demo: they fire for the planted incidents and for nothing else."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.alerts.evaluate import WEEK_MS, evaluate
from app.alerts.model import Rule
from app.alerts.rules import default_rules_dir, load_rules
from app.events.convert import format_ts
from app.query import parse
from app.storage import SearchRequest, StoreError

from conftest import BACKENDS, store_url_for

MIN = 60_000
NOW = 1_795_424_400_000          # Monday 2026-11-23 09:00:00 UTC
_seq = iter(range(10**9))


def ev(ts_ms: int, component: str = "system", **fields) -> dict:
    """A stored-shape event at ts_ms; fields as a__b=value for {"a": {"b": value}}."""
    base = {"@timestamp": format_ts(ts_ms), "_ts": ts_ms,
            "event": {"id": f"e{next(_seq):07d}", "component": component, "type": "other"}}
    for key, value in fields.items():
        node = base
        *parents, last = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return base


def failed_login(ts, player, ip="192.0.2.7"):
    return ev(ts, "user_activity", event__action="login_failed", event__outcome="failure",
              actor__type="player", actor__id=player, actor__ip=ip, message=f"Login failed for {player}")


def call(ts, provider, status="ok"):
    return ev(ts, "integration", integration__provider=provider, integration__status=status,
              event__outcome="success" if status == "ok" else "failure")


def error(ts, service):
    return ev(ts, "error", service__name=service, log__level="error", message=f"{service} failed")


def spread(n, start, end):
    """n timestamps evenly inside [start, end)."""
    return [start + (end - start) * (2 * i + 1) // (2 * n) for i in range(n)]


def rule(**fields) -> Rule:
    base = dict(id="r", name="r", kind="threshold", query="", window_s=300, threshold=0)
    return Rule(**{**base, **fields})


def alerts(evaluation) -> dict:
    assert evaluation.error is None, evaluation.error
    return {f.group: f for f in evaluation.findings if f.state == "alert"}


def states(evaluation) -> dict:
    return {f.group: f.state for f in evaluation.findings}


# -- threshold ----------------------------------------------------------------------------

def test_threshold_fires_above_the_line_quiet_on_it_and_resolves(store):
    r = rule(query="event.action:login_failed", threshold=20)
    store.write([failed_login(t, "p-1") for t in spread(21, NOW - 5 * MIN, NOW)])
    fired = evaluate(r, store, NOW)
    (finding,) = fired.findings
    assert finding.state == "alert" and finding.value == 21 and finding.threshold == 20
    assert finding.window_start_ms == NOW - 5 * MIN and finding.window_end_ms == NOW
    assert len(finding.sample_ids) == 5 and "21 events in 5 min" in finding.detail
    newest = store.search(SearchRequest(query=parse(finding.search_query), start_ms=NOW - 5 * MIN, end_ms=NOW,
                                        size=5, now_ms=NOW))
    assert list(finding.sample_ids) == [h["event"]["id"] for h in newest.hits]   # newest first
    # the oldest of the 21 leaves the window a moment later: 20 is not more than 20
    oldest = NOW - 5 * MIN + (5 * MIN) // 42
    assert [f.state for f in evaluate(r, store, oldest + 5 * MIN + 1).findings] == ["ok"]
    assert evaluate(r, store, oldest + 5 * MIN + 1).findings[0].value == 20
    later = evaluate(r, store, NOW + 10 * MIN).findings[0]
    assert later.state == "ok" and later.value == 0 and later.sample_ids == ()


def test_window_is_half_open_at_now(store):
    r = rule(threshold=0)
    store.write([ev(NOW, "system"), ev(NOW - 5 * MIN - 1, "system")])   # at `now` and just before the window
    assert evaluate(r, store, NOW).findings[0].value == 0
    assert evaluate(r, store, NOW + 1).findings[0].value == 1


def test_grouped_threshold_gives_one_finding_per_offending_group(store):
    r = rule(query="event.action:login_failed", group_by="actor.id", threshold=3)
    store.write([failed_login(t, "p-1") for t in spread(4, NOW - 5 * MIN, NOW)]       # 4 > 3: alert
                + [failed_login(t, "p-2") for t in spread(3, NOW - 5 * MIN, NOW)]     # 3: quiet
                + [failed_login(t, "p-3") for t in spread(3, NOW - 5 * MIN, NOW)]     # 3 in the window ...
                + [failed_login(NOW - 6 * MIN, "p-3")]                                # ... and one before it
                + [failed_login(t, "p-4 x") for t in spread(6, NOW - 4 * MIN, NOW)]   # odd value: quoted
                + [ev(t, "user_activity", event__action="login", actor__id="p-5") for t in spread(9, NOW - MIN, NOW)])
    found = alerts(evaluate(r, store, NOW))
    assert set(found) == {"p-1", "p-4 x"}
    assert found["p-1"].value == 4 and found["p-4 x"].value == 6
    for group, finding in found.items():
        again = store.search(SearchRequest(query=parse(finding.search_query), start_ms=finding.window_start_ms,
                                           end_ms=finding.window_end_ms, size=5, now_ms=NOW))
        assert again.total == finding.value and {h["actor"]["id"] for h in again.hits} == {group}
        assert list(finding.sample_ids) == [h["event"]["id"] for h in again.hits]
    assert alerts(evaluate(r, store, NOW + 6 * MIN)) == {}   # resolved: nothing offends any more


def test_grouping_by_an_ip_field(store):
    r = rule(query="event.action:login_failed", group_by="actor.ip", threshold=5, window_s=600)
    attacker = [failed_login(t, f"p-{i % 4}", ip="203.0.113.201") for i, t in enumerate(spread(8, NOW - 9 * MIN, NOW))]
    store.write(attacker + [failed_login(NOW - MIN, "p-9", ip="192.0.2.1")])
    found = alerts(evaluate(r, store, NOW))
    assert set(found) == {"203.0.113.201"} and found["203.0.113.201"].value == 8
    assert 'actor.ip:"203.0.113.201"' in found["203.0.113.201"].search_query


# -- ratio --------------------------------------------------------------------------------

RATIO = dict(kind="ratio", query="event.component:integration", failure_query="integration.status:(error OR timeout)",
             window_s=600, threshold=0.2, min_count=5)


def calls(provider, ok, failed, start=NOW - 10 * MIN, end=NOW):
    statuses = ["timeout"] * failed + ["ok"] * ok
    return [call(t, provider, s) for t, s in zip(spread(len(statuses), start, end), statuses)]


def test_ratio_per_group_with_a_minimum_volume(store):
    r = rule(**RATIO, group_by="integration.provider")
    store.write(calls("Failing", ok=7, failed=3)          # 30 % of 10: alert
                + calls("Edge", ok=8, failed=2)           # 20 % is not more than 20 %
                + calls("Tiny", ok=1, failed=1)           # 50 %, but 2 calls < min_count 5
                + calls("Fine", ok=40, failed=0)
                + [call(NOW - 15 * MIN, "Edge", "timeout")])   # before the window: not counted
    found = alerts(evaluate(r, store, NOW))
    assert set(found) == {"Failing"}
    f = found["Failing"]
    assert f.value == pytest.approx(0.3) and "3 of 10 failed (30.0%)" in f.detail and len(f.sample_ids) == 3
    hits = store.search(SearchRequest(query=parse(f.search_query), start_ms=f.window_start_ms, end_ms=NOW, size=10))
    assert hits.total == 3 and {h["integration"]["status"] for h in hits.hits} == {"timeout"}
    assert alerts(evaluate(r, store, NOW + 11 * MIN)) == {}


def test_ratio_without_groups_reports_ok_with_its_share(store):
    r = rule(**RATIO)
    store.write(calls("A", ok=8, failed=2) + calls("B", ok=9, failed=1))      # 3 of 20: 15 %
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "ok" and f.value == pytest.approx(0.15) and f.group is None
    store.write(calls("C", ok=0, failed=3, start=NOW - MIN))                 # 6 of 23: 26 %
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "alert" and f.value == pytest.approx(6 / 23)
    assert evaluate(replace(r, min_count=24), store, NOW).findings[0].state == "ok"   # too few events


# -- spike --------------------------------------------------------------------------------

SPIKE = dict(kind="spike", query="event.component:error", window_s=900, threshold=2.0, min_count=10,
             baseline_periods=4)


def errors_at(service, n, end, window=15 * MIN):
    return [error(t, service) for t in spread(n, end - window, end)]


def test_spike_compares_with_the_same_hour_of_previous_weeks(store):
    r = rule(**SPIKE)
    history = []
    for k in range(1, 5):   # Monday 08:45-09:00 of four earlier weeks: 10 errors each
        history += errors_at("wallet", 10, NOW - k * WEEK_MS)
    # a busy Sunday evening and busy Monday 09:15 slots would drown the spike if the baseline were
    # the previous day or the next hour; the same hour of the week is what counts
    history += errors_at("wallet", 200, NOW - 12 * 3_600_000) + errors_at("wallet", 200, NOW - WEEK_MS + 30 * MIN)
    store.write(history + errors_at("wallet", 31, NOW))
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "alert" and f.value == pytest.approx(2.1)           # (31 - 10) / 10
    assert "31 events in 15 min against 10 on average in the same 15 min of 4 earlier weeks" in f.detail
    assert len(f.sample_ids) == 5


def test_spike_just_below_the_line_and_resolving(store):
    r = rule(**SPIKE)
    history = [e for k in range(1, 5) for e in errors_at("wallet", 10, NOW - k * WEEK_MS)]
    store.write(history + errors_at("wallet", 30, NOW))                    # (30 - 10) / 10 = 2: not above 2
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "ok" and f.value == pytest.approx(2.0)
    store.write(errors_at("wallet", 1, NOW, window=MIN))                  # one more: 2.1
    assert evaluate(r, store, NOW).findings[0].state == "alert"
    assert evaluate(r, store, NOW + 20 * MIN).findings[0].state == "ok"   # the window moved past


def test_spike_zscore_mode(store):
    r = rule(**{**SPIKE, "spike_mode": "zscore", "threshold": 3.0, "min_count": 0})
    history = []
    for k, n in zip(range(1, 5), (10, 12, 8, 10)):   # mean 10, stdev 1.41 -> floor sqrt(10) = 3.16
        history += errors_at("wallet", n, NOW - k * WEEK_MS)
    store.write(history + errors_at("wallet", 19, NOW))
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "ok" and f.value == pytest.approx(9 / 10 ** 0.5, abs=1e-3)     # z = 2.85
    store.write(errors_at("wallet", 1, NOW, window=MIN))
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "alert" and f.value == pytest.approx(10 / 10 ** 0.5, abs=1e-3)  # z = 3.16 > 3
    assert "z = 3.2" in f.detail


def test_grouped_spike_one_finding_per_service_and_min_count(store):
    r = rule(**SPIKE, group_by="service.name")
    history = []
    for k in range(1, 5):
        history += errors_at("wallet", 10, NOW - k * WEEK_MS) + errors_at("games", 40, NOW - k * WEEK_MS)
        history += errors_at("kyc", 1, NOW - k * WEEK_MS)
    store.write(history + errors_at("wallet", 35, NOW)     # 3.5x its usual 10: alert
                + errors_at("games", 100, NOW)             # 2.5x its usual 40: quiet
                + errors_at("kyc", 9, NOW)                 # 9x, but fewer than min_count 10
                + errors_at("new-svc", 50, NOW))           # never seen before: baseline 0, 50 >= 10
    found = alerts(evaluate(r, store, NOW))
    assert set(found) == {"wallet", "new-svc"}
    assert found["wallet"].value == pytest.approx(2.5) and found["new-svc"].value == pytest.approx(50)
    assert found["wallet"].search_query == 'event.component:error AND service.name:"wallet"'


def test_spike_weeks_before_the_store_began_are_not_a_quiet_baseline(store):
    """Only weeks the store holds data for count: two weeks of history, not four with two zeros."""
    r = rule(**SPIKE)   # baseline_periods 4
    store.write(errors_at("wallet", 10, NOW - WEEK_MS) + errors_at("wallet", 10, NOW - 2 * WEEK_MS)
                + errors_at("wallet", 25, NOW))
    (f,) = evaluate(r, store, NOW).findings
    assert f.state == "ok" and f.value == pytest.approx(1.5) and "of 2 earlier weeks" in f.detail
    fresh = evaluate(r, store, NOW - 2 * WEEK_MS)   # nothing older was stored then: compared with 0
    assert "nothing earlier in the store" in fresh.findings[0].detail and fresh.findings[0].state == "alert"


def test_spike_without_earlier_weeks_compares_with_the_windows_just_before(store):
    """A new installation: no week of history yet, so the hour before is the baseline."""
    r = rule(**SPIKE, group_by="service.name")
    recent = [e for k in range(1, 5) for e in errors_at("wallet", 10, NOW - k * 15 * MIN)]
    recent += [e for k in range(1, 5) for e in errors_at("games", 30, NOW - k * 15 * MIN)]
    store.write(recent + errors_at("wallet", 40, NOW) + errors_at("games", 45, NOW))
    found = alerts(evaluate(r, store, NOW))
    assert set(found) == {"wallet"} and found["wallet"].value == pytest.approx(3.0)   # games: +50 % only
    assert "against 10 on average in the 4 windows of 15 min just before (no earlier week" in found["wallet"].detail


# -- absence ------------------------------------------------------------------------------

ABSENCE = dict(kind="absence", query="event.component:integration", group_by="integration.provider",
               window_s=1800, threshold=1)


def test_absence_fires_for_a_silent_expected_group_only(store):
    r = rule(**ABSENCE, expected_groups=("Talking", "Silent", "Quiet"))
    store.write(calls("Talking", ok=3, failed=0, start=NOW - 30 * MIN)
                + [call(NOW - 31 * MIN, "Silent"), call(NOW - 2 * 3_600_000, "Silent")]   # last heard before the window
                + [call(NOW - 10 * MIN, "Quiet")]
                + calls("Unlisted", ok=1, failed=0, start=NOW - 3 * 3_600_000, end=NOW - 2 * 3_600_000))
    evaluation = evaluate(r, store, NOW)
    assert states(evaluation) == {"Talking": "ok", "Silent": "alert", "Quiet": "ok"}   # Unlisted never expected
    silent = alerts(evaluation)["Silent"]
    assert silent.value == 0 and f"last event {format_ts(NOW - 31 * MIN)}" in silent.detail
    assert len(silent.sample_ids) == 2
    assert states(evaluate(replace(r, threshold=2), store, NOW))["Quiet"] == "alert"   # 1 < 2
    store.write([call(NOW + MIN, "Silent")])
    assert states(evaluate(r, store, NOW + 2 * MIN))["Silent"] == "ok"               # heard again: resolved


def test_absence_expects_what_the_same_hour_of_earlier_weeks_had(store):
    r = rule(**ABSENCE, min_count=5, baseline_periods=3)
    history = []
    for k in range(1, 4):
        week = NOW - k * WEEK_MS
        history += calls("Daytime", ok=8, failed=0, start=week - 30 * MIN, end=week)   # usual at this hour
        history += calls("Sparse", ok=2, failed=0, start=week - 30 * MIN, end=week)    # 2 < min_count 5
        history += calls("Nightly", ok=20, failed=0, start=week - 9 * 3_600_000, end=week - 8 * 3_600_000)
        if k == 2:   # one busy half hour three weeks out of four is a burst, not a habit
            history += calls("Bursty", ok=60, failed=0, start=week - 30 * MIN, end=week)
    store.write(history + calls("Brand-new", ok=9, failed=0, start=NOW - 3 * 3_600_000, end=NOW - 2 * 3_600_000))
    evaluation = evaluate(r, store, NOW)
    assert states(evaluation) == {"Daytime": "alert"}   # Sparse, Nightly, Bursty and Brand-new are not expected now
    assert "usually 8 or more: the same 30 min of 3 earlier weeks" in evaluation.findings[0].detail
    store.write([call(NOW - MIN, "Daytime")])
    assert states(evaluate(r, store, NOW)) == {"Daytime": "ok"}


def test_absence_needs_two_weeks_of_habit(store):
    r = rule(**ABSENCE, min_count=5, baseline_periods=4)
    week = NOW - WEEK_MS
    store.write(calls("Daytime", ok=8, failed=0, start=week - 30 * MIN, end=week))
    assert evaluate(r, store, NOW).findings == []   # one week is not a habit yet
    assert states(evaluate(replace(r, baseline_periods=1), store, NOW)) == {"Daytime": "alert"}
    store.write(calls("Daytime", ok=6, failed=0, start=week - WEEK_MS - 30 * MIN, end=week - WEEK_MS))
    assert states(evaluate(r, store, NOW)) == {"Daytime": "alert"}


def test_absence_without_groups(store):
    r = rule(kind="absence", query="service.name:heartbeat", window_s=300, threshold=3)
    store.write([ev(t, "system", service__name="heartbeat") for t in spread(3, NOW - 5 * MIN, NOW)])
    assert [f.state for f in evaluate(r, store, NOW).findings] == ["ok"]
    assert [f.state for f in evaluate(r, store, NOW + 2 * MIN).findings] == ["alert"]


# -- errors and "unknown" -------------------------------------------------------------------

class Unreachable:
    """A store whose every search fails as an unreachable backend's does."""

    def __init__(self, store=None, after: int = 0):
        self.store, self.after = store, after

    def search(self, request):
        if self.after <= 0:
            raise StoreError("the store is unreachable: connection refused")
        self.after -= 1
        return self.store.search(request)


@pytest.mark.parametrize("fields", [
    dict(ABSENCE, expected_groups=("A", "B")),
    dict(ABSENCE),
    dict(RATIO, group_by="integration.provider"),
    dict(SPIKE),
    dict(query="event.action:login_failed", group_by="actor.id", threshold=1),
], ids=["absence-listed", "absence-weeks", "ratio", "spike", "threshold"])
def test_a_store_that_cannot_answer_makes_findings_unknown(store, fields):
    r = rule(**fields)
    store.write(calls("A", ok=5, failed=5) + errors_at("wallet", 40, NOW)
                + [failed_login(t, "p-1") for t in spread(3, NOW - MIN, NOW)])
    for after in (0, 1):   # down from the start, or going away in the middle of the evaluation
        evaluation = evaluate(r, Unreachable(store, after), NOW)
        assert "unreachable" in evaluation.error
        assert evaluation.findings and {f.state for f in evaluation.findings} == {"unknown"}
        expected = set(fields.get("expected_groups") or ()) or {None}
        assert {f.group for f in evaluation.findings} == expected
        assert all(f.value is None for f in evaluation.findings)


def test_an_opensearch_node_that_goes_away_is_unknown_not_silent(opensearch_url, tmp_path, request):
    """The real thing: the store reached through a proxy that then drops every connection."""
    from urllib.parse import urlsplit
    from test_opensearch import FaultProxy
    from app.storage import open_store
    url = urlsplit(store_url_for("opensearch", tmp_path, request))
    proxy = FaultProxy(opensearch_url, [])
    store = open_store(f"opensearch://127.0.0.1:{proxy.port}?{url.query}", retries=0)
    try:
        store.write([call(NOW - 40 * MIN, "A")])
        r = rule(**ABSENCE, expected_groups=("A",))
        assert states(evaluate(r, store, NOW)) == {"A": "alert"}
        proxy.down = True
        evaluation = evaluate(r, store, NOW)
        assert states(evaluation) == {"A": "unknown"} and "unreachable" in evaluation.error
    finally:
        proxy.down = False
        store.close()
        proxy.close()


def test_a_bad_query_is_an_error_without_findings(store):
    evaluation = evaluate(rule(query="actor.id:(p-1 OR"), store, NOW)
    assert evaluation.findings == [] and "does not compile" in evaluation.error
    evaluation = evaluate(rule(**{**RATIO, "failure_query": "integration.stat:error"}), store, NOW)
    assert evaluation.findings == [] and "unknown field 'integration.stat'" in evaluation.error
    evaluation = evaluate(rule(group_by="acter.id"), store, NOW)
    assert evaluation.findings == [] and "unknown field 'acter.id'" in evaluation.error


def test_a_ratio_rule_without_a_failure_query_is_an_error(store):
    for failure_query in (None, "", "*"):
        evaluation = evaluate(rule(**{**RATIO, "failure_query": failure_query}), store, NOW)
        assert evaluation.findings == [] and "needs a failure_query" in evaluation.error, failure_query


def test_relative_times_in_a_query_use_the_injected_now(store):
    r = rule(query="@timestamp:>=now-2m", threshold=1, window_s=600)
    store.write([ev(t, "system") for t in (NOW - 9 * MIN, NOW - 8 * MIN, NOW - MIN)])
    assert evaluate(r, store, NOW).findings[0].value == 1


# -- each shipped rule, just over and just under its line ----------------------------------------

def adjustment(ts, employee):
    return ev(ts, "admin_action", event__action="balance_adjusted", actor__type="employee", actor__id=employee)


def shipped(rule_id: str) -> Rule:
    return next(r for r in load_rules(default_rules_dir()) if r.id == rule_id)


HOUR = 60 * MIN
LINES = {   # rule id -> (group, events just over the line, events just under it)
    "brute-force-login-per-ip": ("203.0.113.240", lambda n: [failed_login(t, f"p-{i % 7}", "203.0.113.240")
                                                             for i, t in enumerate(spread(n, NOW - 10 * MIN, NOW))], 21, 20),
    "brute-force-login-per-account": ("p-42", lambda n: [failed_login(t, "p-42", f"192.0.2.{i}")
                                                         for i, t in enumerate(spread(n, NOW - 10 * MIN, NOW))], 11, 10),
    "employee-balance-adjustments": ("e-007", lambda n: [adjustment(t, "e-007") for t in spread(n, NOW - HOUR, NOW)],
                                     11, 10),
    "integration-failing-per-provider": ("CardHub", lambda n: calls("CardHub", ok=10 - n, failed=n), 3, 2),
    "error-spike-per-service": ("wallet-service", lambda n: [
        e for k in range(1, 5) for e in errors_at("wallet-service", 10, NOW - k * WEEK_MS)]
        + errors_at("wallet-service", n, NOW), 31, 30),
    "provider-silence": ("PayFast", lambda n: [   # two earlier weeks with n calls in this hour, none now
        e for k in (1, 2) for e in calls("PayFast", ok=n, failed=0, start=NOW - k * WEEK_MS - HOUR,
                                         end=NOW - k * WEEK_MS)] + [call(NOW - 2 * HOUR, "PayFast")], 30, 29),
}


@pytest.mark.parametrize("rule_id", sorted(LINES))
def test_each_shipped_rule_just_over_and_just_under_its_line(store_url, rule_id):
    """The shipped rule's own numbers: one event more fires it, one fewer does not."""
    from app.storage import open_store
    group, make, over, under = LINES[rule_id]
    r = shipped(rule_id)
    for n, expected in ((under, set()), (over, {group})):
        store = open_store(store_url)
        store.drop_partitions_before(NOW + WEEK_MS)   # start empty
        store.write(make(n))
        found = alerts(evaluate(r, store, NOW))
        assert set(found) == expected, (rule_id, n, [f.detail for f in found.values()])
        store.close()


# -- the shipped rules on the demo ------------------------------------------------------------

DEMO_EVENTS, DEMO_DAYS, DEMO_SEED = 100_000, 2, 7
DEMO_END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
STEP_MS = 5 * MIN


def planted_incidents(events: int, days: int, seed: int, end: datetime) -> dict:
    """(rule id, group) -> (first, last) epoch ms of each incident the demo generator plants, read
    from the generator itself: the same simulator and random draws as generate(), stopped after
    incidents() has planned them."""
    from app.demo import catalog
    from app.demo.generator import _Sim
    end_ms = int(end.timestamp() * 1000)
    sim = _Sim(events, end_ms - days * 86_400_000, end_ms, random.Random(seed))
    sim.incidents(min(1.0, events / 1250))
    planned = [(ts, e) for ts, _, e in sim.heap if isinstance(e, dict)]
    spans: dict = {("integration-failing-per-provider", sim.out_prov): (sim.out_s, sim.out_e)}
    spike = [ts for ts, e in planned if e.get("error", {}).get("type") == catalog.SPIKE_ERROR[1]]
    spans[("error-spike-per-service", catalog.SPIKE_ERROR[0])] = (min(spike), max(spike))
    burst = defaultdict(list)
    for ts, e in planned:
        if e.get("event", {}).get("action") == "login_failed" and \
                e.get("user_agent", {}).get("original") == catalog.ATTACKER_UA:
            burst[e["actor"]["ip"]].append(ts)
    for ip, times in burst.items():
        spans[("brute-force-login-per-ip", ip)] = (min(times), max(times))
    return spans


@pytest.fixture(scope="module", params=BACKENDS)
def demo_store(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("alerts-demo")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    from app.demo.generator import generate
    lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(DEMO_EVENTS, days=DEMO_DAYS, seed=DEMO_SEED,
                                                                 end=DEMO_END)))
    report = services.ingestor.ingest(lines, position="line")
    assert report.accepted == DEMO_EVENTS
    yield services.store
    services.close()


def test_shipped_rules_fire_for_the_planted_incidents_and_nothing_else(demo_store):
    """Every shipped rule, every 5 minutes across the two generated days (and an hour after)."""
    rules = load_rules(default_rules_dir())
    assert len(rules) >= 5
    planted = planted_incidents(DEMO_EVENTS, DEMO_DAYS, DEMO_SEED, DEMO_END)
    assert len(planted) == 4   # the outage, the error spike, two brute-force bursts
    end_ms = int(DEMO_END.timestamp() * 1000)
    fired = defaultdict(list)
    for now in range(end_ms - DEMO_DAYS * 86_400_000 + STEP_MS, end_ms + 3_600_000, STEP_MS):
        for r in rules:
            evaluation = evaluate(r, demo_store, now)
            assert evaluation.error is None, (r.id, evaluation.error)
            for f in evaluation.findings:
                assert f.state != "unknown"
                if f.state == "alert":
                    fired[(r.id, f.group)].append((now, f))
    assert set(fired) == set(planted)
    for key, moments in fired.items():   # and each while its incident was happening
        first, last = planted[key]
        for now, finding in moments:
            assert finding.window_start_ms <= last and now > first, (key, format_ts(now))
            assert finding.sample_ids and finding.search_query


# -- the command line -------------------------------------------------------------------------

def test_cli_alerts_check_and_list(tmp_path):
    from click.testing import CliRunner
    from app.cli import main
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data")}
    app = create_app(env)
    app.extensions["platlogs"].store.write([failed_login(t, f"p-{i % 3}", ip="203.0.113.9")
                                            for i, t in enumerate(spread(25, NOW - 8 * MIN, NOW))])
    app.extensions["platlogs"].close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ip.yaml").write_text("id: by-ip\nname: By IP\nkind: threshold\nquery: event.action:login_failed\n"
                                   "group_by: actor.ip\nwindow: 10m\nthreshold: 20\n")
    (rules / "quiet.yaml").write_text("id: by-player\nname: By player\nkind: threshold\n"
                                      "query: event.action:login_failed\ngroup_by: actor.id\nwindow: 10m\n"
                                      "threshold: 20\n")
    runner = CliRunner()
    at = format_ts(NOW)
    result = runner.invoke(main, ["alerts", "check", "--at", at, "--rules", str(rules)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:5] == ["by-ip", "203.0.113.9", "alert", "25", "20"] and len(lines) == 2
    assert f"2 rule(s) at {at}: 1 alert(s)" in result.stderr
    later = runner.invoke(main, ["alerts", "check", "--at", format_ts(NOW + 11 * MIN), "--rules", str(rules)], env=env)
    assert later.exit_code == 0 and len(later.stdout.splitlines()) == 1   # resolved: only the heading
    as_json = runner.invoke(main, ["alerts", "check", "--at", str(NOW), "--rules", str(rules), "--format", "ndjson",
                                   "--rule", "by-ip"], env=env)
    finding = orjson.loads(as_json.stdout)
    assert finding["group"] == "203.0.113.9" and len(finding["sample_ids"]) == 5
    assert finding["search_query"] == 'event.action:login_failed AND actor.ip:"203.0.113.9"'
    # a broken rule file is reported, the others still run; a rule that cannot run exits 1
    (rules / "broken.yaml").write_text("id: broken\nname: B\nkind: threshold\nquery: 'actor.id:(x'\nwindow: 5m\n"
                                       "threshold: 1\n")
    listed = runner.invoke(main, ["alerts", "list", "--rules", str(rules)], env=env)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["by-ip", "by-player"]
    assert "rule broken (broken.yaml): query: missing ')'" in listed.stderr
    bad_at = runner.invoke(main, ["alerts", "check", "--at", "yesterday", "--rules", str(rules)], env=env)
    assert bad_at.exit_code == 2 and "'yesterday' is not a time" in bad_at.output
