"""The latency sketch (app/rollups/sketch.py), and `platlogs rollups rebuild` end to end."""
from __future__ import annotations

import math
import random

import pytest
from click.testing import CliRunner

from app.rollups import sketch
from app.rollups.model import MINUTE_MS, reduce


def test_every_duration_is_answered_within_the_relative_accuracy():
    rng = random.Random(4)
    values = [10 ** rng.uniform(-2.9, 7) for _ in range(20_000)] + [1.0, 1000.0, 0.0010001, 3.6e6]
    for v in values:
        assert abs(sketch.value(sketch.key(v)) - v) <= sketch.RELATIVE_ACCURACY * v * (1 + 1e-9), v


def test_zero_negative_and_tiny_durations_share_the_zero_bucket_below_all_others():
    assert {sketch.key(v) for v in (0, 0.0, -3, -1e9, 1e-6, sketch.MIN_MS, float("nan"))} == {sketch.ZERO_KEY}
    assert sketch.value(sketch.ZERO_KEY) == 0.0
    assert sketch.ZERO_KEY < sketch.key(sketch.MIN_MS * 1.0001) < sketch.key(1)


def test_keys_are_the_ones_stored_so_far():
    """The keys are storage format: this pins them (a change would misread every stored minute)."""
    assert [sketch.key(v) for v in (0.5, 1, 2, 10, 100, 1000, 3.6e6)] == [-34, 0, 35, 116, 231, 346, 755]


def test_merged_sketches_answer_quantiles_of_all_their_durations():
    rng = random.Random(9)
    parts = [[rng.lognormvariate(4, 1.2) for _ in range(rng.randrange(1, 400))] for _ in range(30)]
    sketches = []
    for durations in parts:
        s: dict[int, int] = {}
        for d in durations:
            s[sketch.key(d)] = s.get(sketch.key(d), 0) + 1
        sketches.append(s)
    merged = sketch.merge(*sketches)
    everything = sorted(d for durations in parts for d in durations)
    assert sketch.count(merged) == len(everything)
    for q in (0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1):
        exact = everything[math.floor(q * (len(everything) - 1))]
        assert abs(sketch.quantile(merged, q) - exact) <= sketch.RELATIVE_ACCURACY * exact


def test_quantile_edges():
    assert sketch.quantile({}, 0.5) is None
    assert sketch.quantile({sketch.ZERO_KEY: 3, sketch.key(100): 1}, 0.5) == 0.0
    with pytest.raises(ValueError):
        sketch.quantile({1: 1}, 1.5)


def test_reduce_counts_only_what_an_event_has():
    events = [
        {"_ts": 61_000, "event": {"component": "integration", "type": "integration_call"},
         "integration": {"provider": "P", "kind": "game", "status": "circuit_open", "duration": "12"}},
        {"_ts": 119_999, "event": {"component": "system", "type": "other"}, "log": {"level": "info"}},
        {"@timestamp": "1970-01-01T00:02:00.000Z", "event": {"component": "system", "type": "other"},
         "integration": {"status": "error"}},
    ]
    sums = reduce(events)
    assert sums.counts == {
        (MINUTE_MS, "integration", "integration_call", None, None, None, "P", "game", "circuit_open", None): 1,
        (MINUTE_MS, "system", "other", "info", None, None, None, None, None, None): 1,
        (2 * MINUTE_MS, "system", "other", None, None, None, None, None, "error", None): 1}
    api = reduce([{"_ts": 0, "event": {"component": "api"}, "http": {"response": {"status_code": 503}}}])
    assert list(api.counts) == [(0, "api", None, None, None, None, None, None, None, "503")]
    assert sums.providers == {(MINUTE_MS, "P", "game", "circuit_open"): [1, 1, 0]}
    assert sums.latency == {}   # a duration that is not a number is no latency


def test_the_rebuild_command(tmp_path, monkeypatch):
    from app.events.convert import format_ts
    from app.storage import open_store
    url = f"tantivy://{tmp_path}/events?writer_heap_mb=16&writer_threads=1"
    monkeypatch.setenv("PLATLOGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PLATLOGS_STORE", url)
    base = 1_794_960_000_000
    store = open_store(url)
    store.write([{"@timestamp": format_ts(base + i * 20_000), "_ts": base + i * 20_000,
                  "event": {"id": f"e{i}", "component": "integration", "type": "integration_call"},
                  "integration": {"provider": "P", "status": "timeout" if i % 3 else "ok", "duration": i}}
                 for i in range(30)])
    kept = store.rollups.providers(base, base + 3_600_000, MINUTE_MS)
    store.rollups.replace(base, base + 3_600_000, reduce([]))
    store.close()

    from app.cli import main
    runner = CliRunner()
    bad = runner.invoke(main, ["rollups", "rebuild", "--from", "yesterday-ish"])
    assert bad.exit_code == 2 and "--from" in bad.output
    done = runner.invoke(main, ["rollups", "rebuild", "--from", format_ts(base), "--to", str(base + 3_600_000)])
    assert done.exit_code == 0, done.output
    assert "from 30 events" in done.output
    store = open_store(url)
    try:
        assert store.rollups.providers(base, base + 3_600_000, MINUTE_MS) == kept
        assert sum(r.timeouts for r in kept) == 20
    finally:
        store.close()


def test_a_range_is_read_in_the_widest_pieces_the_step_allows():
    from app.rollups.model import DAY_MS, HOUR_MS, pieces
    day0 = 1_794_960_000_000
    start, end = day0 - DAY_MS - HOUR_MS - 5 * MINUTE_MS, day0 + 2 * DAY_MS + 2 * HOUR_MS + 7 * MINUTE_MS
    assert pieces(start, end, DAY_MS) == [
        (MINUTE_MS, start, day0 - DAY_MS - HOUR_MS), (HOUR_MS, day0 - DAY_MS - HOUR_MS, day0 - DAY_MS),
        (DAY_MS, day0 - DAY_MS, day0 + 2 * DAY_MS), (HOUR_MS, day0 + 2 * DAY_MS, day0 + 2 * DAY_MS + 2 * HOUR_MS),
        (MINUTE_MS, day0 + 2 * DAY_MS + 2 * HOUR_MS, end)]
    assert pieces(start, end, 15 * MINUTE_MS) == [(MINUTE_MS, start, end)]
    assert [w for w, _, _ in pieces(start, end, 2 * HOUR_MS)] == [MINUTE_MS, HOUR_MS, MINUTE_MS]
    assert pieces(day0, day0, DAY_MS) == []
