"""The partition policy shared by both backends (app/storage/partitioning.py): bounded, never
overlapping, and stable for a re-sent event."""
from __future__ import annotations

import random

import pytest

from app.storage.partitioning import DAY_MS, Layout, name_span, span_name

NOW = 1_796_169_600_000          # 2026-12-02T00:00:00Z
Y1990 = 631_152_000_000          # 1990-01-01T00:00:00Z


def assert_no_overlap(spans):
    spans = sorted(spans)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 <= s2, f"{span_name(s1, e1)} overlaps {span_name(s2, e2)}"


def test_a_backfill_one_event_per_day_since_1990_opens_one_partition_per_year():
    layout = Layout([], NOW, day_partition_days=31)
    for i in range(5000):
        layout.route(Y1990 + i * DAY_MS + 1234)
    names = [span_name(*s) for s in layout.opened]
    assert names == [str(y) for y in range(1990, 2004)]
    assert_no_overlap(layout.spans)


def test_recent_times_get_days_and_old_ones_fill_around_existing_partitions():
    day_0801 = 1_785_542_400_000  # 2026-08-01
    layout = Layout([(day_0801, day_0801 + DAY_MS)], NOW, day_partition_days=20)
    assert layout.route(NOW - 3 * DAY_MS + 5) == (NOW - 3 * DAY_MS, NOW - 2 * DAY_MS)   # in the window: its day
    assert layout.route(day_0801 + 7) == (day_0801, day_0801 + DAY_MS)                  # existing: it
    aug = layout.route(day_0801 + 3 * DAY_MS)   # 2026 and August overlap the existing day: a day
    assert span_name(*aug) == "20260804"
    assert span_name(*layout.route(day_0801 - 40 * DAY_MS)) == "202606"   # June is free
    assert span_name(*layout.route(NOW - 60 * DAY_MS)) == "202610"         # October ends before the window
    assert span_name(*layout.route(NOW - 25 * DAY_MS)) == "20261107"       # November reaches into it
    assert_no_overlap(layout.spans)


def test_the_window_moving_on_never_overlaps_and_a_resent_event_finds_its_partition():
    rng = random.Random(7)
    existing: list[tuple[int, int]] = []
    placed: dict[int, tuple[int, int]] = {}
    for step in range(60):   # 60 days of mixed live traffic and backfills
        now = NOW + step * DAY_MS
        layout = Layout(existing, now, day_partition_days=rng.choice([0, 3, 31]))
        for _ in range(200):
            ts = rng.randrange(Y1990, now + DAY_MS)
            span = layout.route(ts)
            assert span[0] <= ts < span[1]
            placed.setdefault(ts, span)
            assert placed[ts] == span
        existing = layout.spans
        assert_no_overlap(existing)
    # bounded: years of history + the window's edge, not one per distinct day
    assert len(existing) < 37 + 12 + 31 + 60 + 31


@pytest.mark.parametrize("sep", ["", "."])
def test_names_round_trip(sep):
    for span in [(Y1990, Y1990 + DAY_MS), Layout([], NOW).route(Y1990), Layout([], NOW, 0).route(NOW)]:
        assert name_span(span_name(*span, sep=sep), sep=sep) == span
    with pytest.raises(ValueError):
        name_span("2026x1", "")
