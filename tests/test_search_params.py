"""search_params asks for the oldest stored time only when it needs it: an open `from` with a
histogram (finding it opens every partition of the embedded store)."""
from __future__ import annotations

from app.search.params import auto_interval, search_params

NOW = 1_796_000_000_000
DAY = 86_400_000


class Asked:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_a_bounded_range_never_asks_for_the_oldest_event():
    earliest = Asked(NOW - 30 * DAY)
    params = search_params({"from": "now-1h", "histogram": "auto"}, now_ms=NOW, earliest=earliest)
    assert earliest.calls == 0
    assert params.request.histogram_ms == auto_interval(NOW - 3_600_000, NOW + 1)


def test_an_open_range_without_histogram_does_not_ask_either():
    earliest = Asked(NOW - 30 * DAY)
    search_params({}, now_ms=NOW, earliest=earliest)
    assert earliest.calls == 0


def test_an_open_range_sizes_its_histogram_from_the_oldest_event():
    earliest = Asked(NOW - 30 * DAY)
    params = search_params({"histogram": "auto"}, now_ms=NOW, earliest=earliest)
    assert earliest.calls == 1
    assert params.request.histogram_ms == auto_interval(NOW - 30 * DAY, NOW + 1)
    assert params.request.histogram_ms != auto_interval(NOW - DAY, NOW + 1)


def test_an_empty_store_falls_back_to_a_day():
    params = search_params({"histogram": "auto"}, now_ms=NOW, earliest=Asked(None))
    assert params.request.histogram_ms == auto_interval(NOW - DAY + 1, NOW + 1)
