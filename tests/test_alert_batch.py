"""evaluate_many(rules, store, now): every rule's Evaluation exactly as evaluate() gives it, on
every backend, with the searches batched (one `_msearch` per step on OpenSearch); a rule that
raises, or whose searches fail, is that rule's error alone."""
from __future__ import annotations

from dataclasses import replace

import pytest

import app.alerts.evaluate as evaluate_module
from app.alerts.evaluate import WEEK_MS, evaluate, evaluate_many
from app.storage import StoreError

from test_alert_evaluate import (ABSENCE, MIN, NOW, RATIO, SPIKE, call, calls, error, errors_at, failed_login,
                                 rule, spread)

HOUR = 60 * MIN


def traffic() -> list[dict]:
    events = calls("A", ok=20, failed=10) + calls("B", ok=30, failed=1) + calls("C", ok=2, failed=2)
    events += [call(t, "D") for t in spread(6, NOW - 4 * HOUR, NOW - 3 * HOUR)]     # D went quiet
    for week in (1, 2, 3):                       # earlier weeks: the usual providers and errors
        events += [call(t, p) for p in "ABD" for t in spread(5, NOW - week * WEEK_MS - 25 * MIN, NOW - week * WEEK_MS)]
        events += errors_at("wallet", 8, NOW - week * WEEK_MS) + errors_at("games", 30, NOW - week * WEEK_MS)
    events += errors_at("wallet", 100, NOW) + errors_at("games", 31, NOW)
    events += [failed_login(t, f"p-{i % 4}", ip=f"192.0.2.{i % 3}") for i, t in enumerate(spread(40, NOW - 4 * MIN, NOW))]
    events += [error(t, "auth") for t in spread(3, NOW - 2 * MIN, NOW)]
    return events


RULES = [
    rule(id="t-all", query="event.action:login_failed", threshold=10),
    rule(id="t-player", query="event.action:login_failed", group_by="actor.id", threshold=5),
    rule(id="t-ip", query="event.action:login_failed", group_by="actor.ip", threshold=12),
    rule(id="t-none", query="event.action:nothing_like_it", threshold=0),
    rule(id="ratio-group", **dict(RATIO, group_by="integration.provider")),
    rule(id="ratio-all", **RATIO),
    rule(id="spike-all", **SPIKE),
    rule(id="spike-group", **dict(SPIKE, group_by="service.name")),
    rule(id="spike-z", **dict(SPIKE, group_by="service.name", spike_mode="zscore", threshold=1.0)),
    rule(id="absence-listed", **dict(ABSENCE, expected_groups=("A", "D", "Z"))),
    rule(id="absence-habit", **dict(ABSENCE, min_count=3)),
    rule(id="absence-all", **dict(ABSENCE, group_by=None, min_count=3)),
    rule(id="bad-query", query="actor.id:(p-1 OR"),
    rule(id="bad-group", query="", group_by="no.such.field", threshold=1),
]


def test_evaluate_many_gives_each_rule_what_evaluate_gives(store):
    store.write(traffic())
    one_by_one = [evaluate(r, store, NOW) for r in RULES]
    assert evaluate_many(RULES, store, NOW) == one_by_one
    fired = {e.rule.id for e in one_by_one if any(f.state == "alert" for f in e.findings)}
    assert {"t-all", "t-player", "ratio-group", "spike-all", "spike-group", "absence-listed",
            "absence-habit"} <= fired                                    # the data exercises every path
    assert [e.rule.id for e in one_by_one if e.error] == ["bad-query", "bad-group"]
    # and at other moments (other windows, other weeks), with the rules in another order
    for moment in (NOW - 3 * HOUR, NOW + 20 * MIN):
        rules = list(reversed(RULES))
        assert evaluate_many(rules, store, moment) == [evaluate(r, store, moment) for r in rules]


def test_a_rule_that_raises_is_its_own_error(store, monkeypatch):
    store.write(traffic())
    expected = {r.id: evaluate(r, store, NOW) for r in RULES}

    def broken(run):
        yield from run.count(run.query)
        raise RuntimeError("a bug in one rule kind")

    monkeypatch.setitem(evaluate_module._KINDS, "ratio", broken)
    got = evaluate_many(RULES, store, NOW)
    for evaluation in got:
        if evaluation.rule.kind == "ratio":
            assert evaluation.error == "RuntimeError: a bug in one rule kind" and evaluation.findings == []
        else:
            assert evaluation == expected[evaluation.rule.id]


class FailingFor:
    """The store, except that every search of one query fails as an unreachable store's does."""

    def __init__(self, store, query: str):
        self.store, self.query = store, query

    def search(self, request):
        if str(request.query) == self.query:
            raise StoreError("the store is unreachable: connection refused")
        return self.store.search(request)

    def search_many(self, requests):
        answers = self.store.search_many(requests) if hasattr(self.store, "search_many") else \
            [self.store.search(r) for r in requests]
        return [StoreError("the store is unreachable: connection refused") if str(r.query) == self.query else a
                for r, a in zip(requests, answers)]


def test_searches_failing_for_one_rule_make_only_that_rule_unknown(store):
    store.write(traffic())
    target = replace(RULES[1], query="event.action:login_failed AND actor.type:player")
    failing = FailingFor(store, str(evaluate_module.parse(target.query)))
    rules = [RULES[0], target, RULES[6]]
    got = evaluate_many(rules, failing, NOW)
    assert got[1].error and "unreachable" in got[1].error and {f.state for f in got[1].findings} == {"unknown"}
    assert got[1] == evaluate(target, failing, NOW)
    assert got[0] == evaluate(RULES[0], store, NOW) and got[2] == evaluate(RULES[6], store, NOW)


def test_a_whole_batch_failing_makes_every_rule_unknown(store):
    class Down:
        def search_many(self, requests):
            raise StoreError("OpenSearch is unreachable: connection refused")

    got = evaluate_many(RULES[:3], Down(), NOW)
    assert all(e.error and "unreachable" in e.error for e in got)
    assert all({f.state for f in e.findings} == {"unknown"} for e in got)


@pytest.mark.parametrize("count", [0, 1])
def test_empty_and_single_batches(store, count):
    store.write(traffic())
    assert evaluate_many(RULES[:count], store, NOW) == [evaluate(r, store, NOW) for r in RULES[:count]]
