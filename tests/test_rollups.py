"""Per-minute rollups (issue 14 item 2) on every backend: what ingest keeps equals a brute-force
computation over the stored events — counts by each dimension set, provider calls, failures,
timeouts and statuses, latency quantiles within the sketch's accuracy — with out-of-order
backfill, duplicates and events without integration fields in the batches; and a rebuild from
the stored events gives the same numbers. The sketch itself: tests/test_rollups_sketch.py."""
from __future__ import annotations

import copy
import math
import random
import threading
from collections import Counter
from datetime import datetime, timezone

import pytest

from app.config import Settings
from app.demo.generator import generate
from app.events.convert import format_ts
from app.events.failures import is_integration_failure
from app.query.ast import MatchAll
from app.rollups import sketch
from app.rollups.model import COUNT_DIMENSIONS, MINUTE_MS, Sums
from app.storage.rollups_rebuild import rebuild
from app.services import build_normalizer
from app.storage import SearchRequest, open_store

DAY_MS = 86_400_000
DAY0 = 1_794_960_000_000          # 2026-11-18T00:00:00Z
START = DAY0 - 40 * DAY_MS        # before every event of the tests
END = DAY0 + 2 * DAY_MS
BACKENDS = ("tantivy", "sqlite", "opensearch")


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    from conftest import store_url_for
    return store_url_for(request.param, tmp_path, request)


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("n"))}))


def demo(normalizer, n: int, end: datetime, seed: int, days: int = 1, ids: str | None = None) -> list[dict]:
    out = []
    for i, raw in enumerate(generate(n, days=days, seed=seed, end=end)):
        if ids and i % 7 == 0:   # some events carry the sender's own id (deduplicated)
            raw.setdefault("event", {})["id"] = f"{ids}-{i}"
        out.append(normalizer.normalize(raw, DAY0 + 10 * DAY_MS))
    return out


def odd_events(normalizer) -> list[dict]:
    """Integration events the demo does not make: no duration, zero and negative durations, no
    status, no kind; and plain events without integration fields."""
    base = DAY0 + 3_600_000
    raws = [
        {"message": "no duration", "integration": {"provider": "Acme", "kind": "sms", "status": "ok"}},
        {"message": "zero", "integration": {"provider": "Acme", "kind": "sms", "status": "ok", "duration": 0}},
        {"message": "negative", "integration": {"provider": "Acme", "kind": "sms", "status": "error", "duration": -3}},
        {"message": "no status", "integration": {"provider": "Acme", "kind": "sms", "duration": 12.5}},
        {"message": "no kind", "integration": {"provider": "Bare", "status": "timeout", "duration": 30000}},
        {"message": "status only", "integration": {"status": "error"}},
        {"message": "plain", "log": {"level": "error"}, "service": {"name": "wallet"}},
        {"message": "plain, nothing else"},
    ]
    return [normalizer.normalize({"@timestamp": format_ts(base + i * 7_000), **raw}, DAY0 + 10 * DAY_MS)
            for i, raw in enumerate(raws)]


def write(store, events: list[dict]) -> list[dict]:
    """Write copies of `events`; the originals of those actually stored."""
    result = store.write(copy.deepcopy(events))
    assert not result.failed and not result.refused
    skipped = set(result.duplicates)
    return [e for pos, e in enumerate(events) if pos not in skipped]


def ingest(store, normalizer) -> list[dict]:
    """Three batches: live traffic; a shuffled backfill 30 days back with re-sent events and odd
    ones; the live batch sent again (all duplicates where the sender chose the id)."""
    live = demo(normalizer, 1500, datetime(2026, 11, 19, tzinfo=timezone.utc), seed=5, ids="live")
    backfill = demo(normalizer, 600, datetime(2026, 10, 20, tzinfo=timezone.utc), seed=6, days=2)
    backfill += [e for e in live if e.get("_client_id")][:40] + odd_events(normalizer)
    random.Random(1).shuffle(backfill)
    stored = write(store, live)
    stored += write(store, backfill)
    stored += write(store, [e for e in live if e.get("_client_id")])
    assert len(stored) == 1500 + 600 + 8
    return stored


# -- brute force ------------------------------------------------------------------------------

def value_at(event: dict, dotted: str):
    node = event
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def brute_counts(events, step: int, by: tuple[str, ...]) -> Counter:
    """(values as text: a status code 503 is counted as "503")"""
    def text(v):
        return v if v is None or isinstance(v, str) else str(v)
    return Counter((e["_ts"] // step * step, tuple(text(value_at(e, d)) for d in by)) for e in events)


def brute_providers(events, step: int) -> dict:
    out: dict = {}
    for e in events:
        call = e.get("integration") or {}
        if call.get("provider") is None:
            continue
        row = out.setdefault((e["_ts"] // step * step, call["provider"], call.get("kind")),
                             {"calls": 0, "failures": 0, "timeouts": 0, "statuses": Counter(), "durations": []})
        row["calls"] += 1
        row["failures"] += is_integration_failure(e)
        row["timeouts"] += call.get("status") == "timeout"
        if call.get("status") is not None:
            row["statuses"][call["status"]] += 1
        if "duration" in call:
            row["durations"].append(call["duration"])
    return out


def exact_quantile(values: list[float], q: float) -> float:
    return sorted(values)[math.floor(q * (len(values) - 1))]


def assert_equal_to_brute_force(store, events, steps=(MINUTE_MS, 3_600_000, DAY_MS),
                                dimensions=COUNT_DIMENSIONS) -> None:
    rollups = store.rollups
    for step in steps:
        for by in (dimensions, ("event.component",), ("log.level", "event.outcome"), ("service.name",), (),
                   ("integration.provider", "integration.status")):
            if not set(by) <= set(dimensions):
                continue
            got = Counter({(r.start_ms, r.values): r.count for r in rollups.counts(START, END, step, by)})
            assert got == brute_counts(events, step, by), (step, by)
        rows = rollups.providers(START, END, step)
        expected = brute_providers(events, step)
        assert {(r.start_ms, r.provider, r.kind) for r in rows} == set(expected)
        for r in rows:
            want = expected[(r.start_ms, r.provider, r.kind)]
            assert (r.calls, r.failures, r.timeouts) == (want["calls"], want["failures"], want["timeouts"])
            assert r.statuses == dict(want["statuses"])
            assert sketch.count(r.latency) == len(want["durations"])
            for q in (0, 0.5, 0.9, 0.99, 1) if want["durations"] else ():
                exact = exact_quantile(want["durations"], q)
                got = sketch.quantile(r.latency, q)
                if exact <= sketch.MIN_MS:
                    assert got == 0
                else:
                    assert abs(got - exact) <= sketch.RELATIVE_ACCURACY * exact + 1e-9, (q, exact, got)
    if hasattr(rollups, "minute_calls"):     # the dense per-minute read (SQLite) against the same brute force
        minutes = brute_providers(events, MINUTE_MS)
        for names in (None, ["Acme", "nobody"]):
            got = rollups.minute_calls(START, END, names)
            want: dict = {}
            for (start, provider, _), row in minutes.items():
                if names is None or provider in names:
                    pair = want.setdefault(provider, ({}, {}))
                    i = (start - START) // MINUTE_MS
                    pair[0][i] = pair[0].get(i, 0) + row["calls"]
                    pair[1][i] = pair[1].get(i, 0) + row["failures"]
            assert set(got) == set(want) | set(names or ())
            for provider, (calls, failures) in got.items():
                assert len(calls) == len(failures) == (END - START) // MINUTE_MS
                w_calls, w_failures = want.get(provider, ({}, {}))
                assert {i: c for i, c in enumerate(calls) if c} == {i: c for i, c in w_calls.items() if c}, provider
                assert {i: f for i, f in enumerate(failures) if f} == {i: f for i, f in w_failures.items() if f}
    if dimensions == COUNT_DIMENSIONS:   # (rollups migrated from the first layout have no value sketches)
        assert_values_equal_to_brute_force(rollups, events)


def brute_route(path: str) -> str:
    """model.route written again: segments with a digit (not v1) or over 32 characters are *."""
    segments = path.split("/")
    out = ["*" if len(x) > 32 or (any(c.isdigit() for c in x) and not (x[:1] == "v" and x[1:].isdigit() and len(x) <= 4))
           else x for x in segments]
    return "/".join(out[:12] + ["*"]) if len(out) > 13 else "/".join(out)


def assert_values_equal_to_brute_force(rollups, events) -> None:
    """The value sketches (model.MEASURES: payment amounts per currency, HTTP durations per route),
    whole and narrowed, against the events' values, on every backend."""
    for field, group, where in (
            ("payment.amount", "payment.currency", None),
            ("payment.amount", "payment.currency", {"payment.status": ["completed"], "event.component": ["user_activity"]}),
            ("payment.amount", "payment.currency", {"payment.status": ["declined", "completed"]}),
            ("http.duration", "url.path", None), ("http.duration", "url.path", {"event.component": ["api"]})):
        want: dict = {}
        for e in events:
            amount = value_at(e, field)
            if type(amount) not in (int, float) or amount < 0 or not all(
                    value_at(e, q) in allowed for q, allowed in (where or {}).items()):
                continue
            key = value_at(e, group)
            want.setdefault(brute_route(key) if field == "http.duration" and key is not None else key, []).append(amount)
        got = rollups.values(START, END, field, where)
        assert want and set(got) == set(want), where
        for currency, amounts in want.items():
            assert sketch.count(got[currency]) == len(amounts), (where, currency)
            for q in (0, 0.5, 0.99, 1):
                exact, found = exact_quantile(amounts, q), sketch.quantile(got[currency], q)
                assert abs(found - exact) <= sketch.RELATIVE_ACCURACY * exact + sketch.MIN_MS, (where, currency, q)
    with pytest.raises(ValueError, match="cannot narrow"):
        rollups.values(START, END, "payment.amount", {"log.level": ["info"]})


# -- the tests --------------------------------------------------------------------------------

def test_rollups_kept_at_ingest_equal_a_brute_force_count(store, normalizer):
    events = ingest(store, normalizer)
    assert_equal_to_brute_force(store, events)


def test_a_filter_and_a_range_are_summed_per_aligned_step(store, normalizer):
    events = ingest(store, normalizer)
    start, end, step = DAY0 + 7 * MINUTE_MS, DAY0 + 5 * 3_600_000 + 13 * MINUTE_MS, 15 * MINUTE_MS
    rows = store.rollups.counts(start, end, step, ("event.component",),
                                where={"log.level": ["error", "warning"], "event.outcome": ["failure", None]})
    inside = [e for e in events if start <= e["_ts"] < end and value_at(e, "log.level") in ("error", "warning")
              and value_at(e, "event.outcome") in ("failure", None)]
    assert inside and all(r.start_ms % step == 0 for r in rows)
    assert Counter({(r.start_ms, r.values): r.count for r in rows}) == brute_counts(inside, step, ("event.component",))
    # a ragged range at a step of a day: whole days, hours and minutes summed together
    start, end = DAY0 - 31 * DAY_MS + 7 * MINUTE_MS, DAY0 + DAY_MS + 5 * 3_600_000 + 13 * MINUTE_MS
    inside = [e for e in events if start <= e["_ts"] < end]
    rows = store.rollups.counts(start, end, DAY_MS, ("log.level",))
    assert Counter({(r.start_ms, r.values): r.count for r in rows}) == brute_counts(inside, DAY_MS, ("log.level",))
    calls = Counter({(r.start_ms, r.provider): r.calls for r in store.rollups.providers(start, end, 2 * DAY_MS)})
    assert calls == Counter((e["_ts"] // (2 * DAY_MS) * 2 * DAY_MS, e["integration"]["provider"]) for e in inside
                            if (e.get("integration") or {}).get("provider"))
    some = store.rollups.providers(START, END, DAY_MS, providers=["Acme"])
    assert {r.provider for r in some} == {"Acme"} and sum(r.calls for r in some) == 4
    assert store.rollups.providers(START, END, DAY_MS, providers=[]) == []
    with pytest.raises(ValueError, match="step"):
        store.rollups.counts(START, END, 1000, ())
    with pytest.raises(ValueError, match="not one of"):
        store.rollups.counts(START, END, MINUTE_MS, ("message",))


def test_rebuild_gives_the_numbers_ingest_kept(store, normalizer):
    events = ingest(store, normalizer)
    kept = (store.rollups.counts(START, END, MINUTE_MS, COUNT_DIMENSIONS), store.rollups.providers(START, END, MINUTE_MS))
    # damage them: a range wiped, another counted twice
    store.rollups.replace(DAY0, DAY0 + 3 * 3_600_000, Sums())
    from app.rollups.model import reduce
    store.rollups.add(reduce([e for e in events if e["_ts"] < DAY0 - 20 * DAY_MS]))
    assert store.rollups.counts(START, END, MINUTE_MS, COUNT_DIMENSIONS) != kept[0]
    done = rebuild(store)
    assert done.events == len(events)
    assert (store.rollups.counts(START, END, MINUTE_MS, COUNT_DIMENSIONS),
            store.rollups.providers(START, END, MINUTE_MS)) == kept
    # a part of the range, given in the middle of minutes: whole minutes, the rest untouched
    rebuild(store, DAY0 + 90_500, DAY0 + 4 * 3_600_000 + 5)
    assert store.rollups.counts(START, END, MINUTE_MS, COUNT_DIMENSIONS) == kept[0]
    assert_equal_to_brute_force(store, events)


def test_rollups_outlive_retention_and_rebuild_keeps_them(store, normalizer):
    """Retention drops the October backfill's events, not its rollups; a rebuild of everything
    stops where the stored events begin, so every number is still the one ingest kept."""
    events = ingest(store, normalizer)
    assert store.drop_partitions_before(DAY0 - 15 * DAY_MS)
    assert store.count() < len(events)
    rebuild(store)
    assert_equal_to_brute_force(store, events, steps=(MINUTE_MS, DAY_MS))


def test_two_writers_adding_to_one_minute_both_count(store_url, normalizer):
    first, second = open_store(store_url), open_store(store_url)
    try:
        batches = [demo(normalizer, 300, datetime(2026, 11, 19, tzinfo=timezone.utc), seed=s, days=1) for s in range(4)]
        for batch in batches:   # all in the same few minutes
            for i, e in enumerate(batch):
                e["_ts"] = DAY0 + (i % 3) * MINUTE_MS + i
                e["@timestamp"] = format_ts(e["_ts"])
        threads = [threading.Thread(target=write, args=(s, b)) for s, b in zip((first, second) * 2, batches)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_equal_to_brute_force(first, [e for b in batches for e in b], steps=(MINUTE_MS,))
    finally:
        first.close()
        second.close()


def test_searches_never_see_rollups(store, normalizer):
    events = ingest(store, normalizer)
    result = store.search(SearchRequest(query=MatchAll(), start_ms=None, end_ms=None, size=1))
    assert result.total == len(events) == store.count()
    assert sum(p.events for p in store.partitions()) == len(events)


def test_a_store_opened_without_rollups_keeps_none(store_url, normalizer):
    s = open_store(store_url + "&rollups=off")
    try:
        assert s.rollups is None
        with pytest.raises(ValueError, match="no rollups"):
            rebuild(s)
    finally:
        s.close()


def test_routes_fold_ids_and_value_sketches_take_numbers_at_or_above_zero_only():
    from app.rollups.model import reduce, route
    assert route("/backoffice/api/players/p-000123") == "/backoffice/api/players/*"
    assert route("/api/v1/games/g7/launch") == "/api/v1/games/*/launch"
    assert route("/api/v2/lobby") == "/api/v2/lobby" and route("/healthz") == "/healthz"
    assert route("/x/" + "a" * 33 + "/y") == "/x/*/y"
    assert route("/" + "/".join("s" * 40)).count("/") <= 13      # bounded, whatever the path
    amounts = [12.5, 0, -3, float("nan"), float("inf"), "7", True, None, 10**30]
    events = [{"_ts": DAY0, "event": {"component": "user_activity", "type": "payment"},
               "payment": {"amount": a, "currency": "EUR", "status": "completed"}} for a in amounts]
    sums = reduce(events + [{"_ts": DAY0, "http": {"duration": 3}, "url": {"path": "/a/b1"}},
                            {"_ts": DAY0, "http": "not an object", "payment": ["nor this"]}])
    counted = Counter()
    for (minute, field, group, *_), n in sums.values.items():
        counted[(field, group)] += n
    assert counted == {("payment.amount", "EUR"): 3, ("http.duration", "/a/*"): 1}
