"""Search counts answered from the rollups (app/rollups/answer.py): the same totals, facets and
histograms as counting the index, whichever the query, window and facets — and the index alone
when the rollups disagree with it."""
from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone

import pytest

from app import config, services
from app.demo.generator import generate
from app.query import parse
from app.rollups import answer
from app.storage.rollups_rebuild import rebuild
from app.storage import SearchRequest, open_store

END = datetime(2026, 11, 20, 13, 17, 41, tzinfo=timezone.utc)
END_MS = int(END.timestamp() * 1000)
DAY = 86_400_000
FACETS = ("event.component", "log.level", "integration.provider", "event.type", "event.outcome",
          "service.name", "actor.type", "http.response.status_code")


def fill(url: str) -> object:
    store = open_store(url)
    normalizer = services.build_normalizer(config.Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.gettempdir()}))
    now = int(time.time() * 1000)
    events = [normalizer.normalize(e, now) for e in generate(6000, days=3, seed=11, end=END)]
    for i in range(0, len(events), 1000):
        assert store.write(events[i:i + 1000]).stored == 1000
    return store


@pytest.fixture(scope="module")
def stores():
    with tempfile.TemporaryDirectory() as tmp:
        kept = fill(f"tantivy://{tmp}/with?writer_heap_mb=16&day_partition_days=36500")
        plain = fill(f"tantivy://{tmp}/without?writer_heap_mb=16&day_partition_days=36500&rollups=off")
        yield kept, plain
        kept.close()
        plain.close()


@pytest.fixture(autouse=True)
def any_size(monkeypatch):
    monkeypatch.setattr(answer, "FROM_EVENTS", 0)     # these stores are small: use the rollups anyway


@pytest.fixture
def used(monkeypatch):
    calls = []
    real = answer.count

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(answer, "count", spy)
    return calls


def counts(store, query: str, start: int, end: int, facets=FACETS, histogram: int | None = 3_600_000):
    result = store.search(SearchRequest(query=parse(query), start_ms=start, end_ms=end, size=3, facets=facets,
                                        facet_size=50, histogram_ms=histogram))
    return (result.total, result.total_exact,
            {name: [(v.value, v.count) for v in facet.values] for name, facet in result.facets.items()},
            [(b.start_ms, b.count) for b in result.histogram], [(h["@timestamp"], h.get("message")) for h in result.hits])


WINDOWS = [(END_MS - 3 * DAY - 1234, END_MS + 1), (END_MS - DAY, END_MS), (END_MS - 2 * DAY + 59_999, END_MS - DAY - 1),
           (END_MS - 7_000_000, END_MS - 6_400_000)]
QUERIES = ["", "log.level:error", "event.component:integration service.name:games-gateway",
           "log.level:info event.outcome:success event.type:provider_request", "log.level:error OR log.level:warning",
           "event.component:integration AND integration.status:(error OR timeout OR circuit_open)",
           "integration.provider:NetEnt", "integration.kind:payment AND integration.status:ok",
           # any boolean of terms and `field:*` on count dimensions: a test of each rollup key
           "event.outcome:failure OR log.level:(error OR critical) OR (integration.status:* AND NOT "
           "integration.status:(ok OR success))", "-log.level:info", "integration.provider:*",
           "log.level:error OR service.name:wallet", "NOT (event.component:api OR event.component:integration)",
           # numbers: ranges and terms of an HTTP status code, compared as numbers (the API dashboard)
           "event.component:api AND http.response.status_code:[500 TO 599]", "http.response.status_code:>=400",
           "http.response.status_code:{200 TO 404] OR http.response.status_code:500.0"]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("query", QUERIES)
def test_rollups_answer_as_the_index_counts(stores, used, query, window):
    kept, plain = stores
    start, end = window
    assert counts(kept, query, start, end) == counts(plain, query, start, end)
    assert used, "the rollups were not asked"


@pytest.mark.parametrize("histogram", [None, 60_000, 1_800_000, 86_400_000, 30_000])
def test_histogram_widths_and_facets_alone(stores, used, histogram):
    kept, plain = stores
    start, end = END_MS - 3 * DAY, END_MS
    for facets in [(), ("log.level",), ("actor.type", "service.name")]:
        if not facets and histogram is None:
            continue
        assert counts(kept, "", start, end, facets, histogram) == counts(plain, "", start, end, facets, histogram)


@pytest.mark.parametrize("query", QUERIES)
def test_a_count_alone_and_a_histogram_alone_come_from_the_rollups(stores, used, query):
    """A number tile (the total, nothing else) and a time series (a histogram, no total)."""
    kept, plain = stores
    start, end = END_MS - 3 * DAY + 4321, END_MS - 1234
    assert counts(kept, query, start, end, (), None) == counts(plain, query, start, end, (), None)
    assert len(used) == 1
    for width in (60_000, 3_600_000):
        asked = dict(query=parse(query), start_ms=start, end_ms=end, size=0, total_bound=0, histogram_ms=width)
        got, want = kept.search(SearchRequest(**asked)), plain.search(SearchRequest(**asked))
        assert [(b.start_ms, b.count) for b in got.histogram] == [(b.start_ms, b.count) for b in want.histogram]
    assert len(used) == 3


def test_an_open_window_is_the_stored_span(stores, used):
    """No start or end (the provider registry's facet over all time): the rollups answer too."""
    kept, plain = stores
    for query in ("integration.provider:*", ""):
        asked = dict(query=parse(query), size=0, total_bound=0, facets=("integration.provider",), facet_size=100)
        got, want = kept.search(SearchRequest(**asked)), plain.search(SearchRequest(**asked))
        assert got.facets == want.facets and got.facets["integration.provider"].values
    assert used


def test_other_queries_are_counted_by_the_index(stores, used):
    kept, plain = stores
    for query in ["timeout", "actor.type:player", "log.level:error OR actor.type:player", "log.level:err*",
                  "service.name:wallet AND NOT integration.duration:*", "log.level:[a TO f]"]:
        assert counts(kept, query, END_MS - DAY, END_MS) == counts(plain, query, END_MS - DAY, END_MS)
    assert not used


def test_rollups_behind_the_index_are_not_believed_until_rebuilt(stores, used, tmp_path):
    """A batch committed whose rollups were never added (the process died between the two, or
    the rollup file failed): the index counts; after `platlogs rollups rebuild` the rollups
    answer again, and right."""
    kept, plain = stores
    store = fill(f"tantivy://{tmp_path}/behind?writer_heap_mb=16&day_partition_days=36500")
    rollups, store.rollups = store.rollups, None         # a batch stored without its rollups
    normalizer = services.build_normalizer(config.Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.gettempdir()}))
    extra = [normalizer.normalize(e, END_MS) for e in generate(500, days=1, seed=99, end=END)]
    assert store.write(extra).stored == 500
    store.rollups = rollups
    start, end = END_MS - 2 * DAY, END_MS + 1
    index_only = index_counts(store, start, end)
    assert counts(store, "", start, end) == index_only
    assert sum(c for _, c in counts(store, "", start, end)[3]) == counts(store, "", start, end)[0]
    assert not used_rollups(store, start, end)
    rebuild(store)
    assert used_rollups(store, start, end)
    assert counts(store, "", start, end) == index_only
    store.close()


def test_a_lost_rollup_file_is_not_believed(tmp_path, used):
    url = f"tantivy://{tmp_path}/lost?writer_heap_mb=16&day_partition_days=36500"
    store = fill(url)
    start, end = END_MS - 2 * DAY, END_MS
    expected = counts(store, "", start, end)
    assert used_rollups(store, start, end)
    store.close()
    (tmp_path / "lost" / "rollups.db").unlink()
    store = open_store(url)
    assert not used_rollups(store, start, end)
    assert counts(store, "", start, end) == expected
    store.close()


def used_rollups(store, start: int, end: int) -> bool:
    """Whether the search counted from the rollups (a spy on the one place that reads them)."""
    calls = []
    real = answer.count
    answer.count = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        store.search(SearchRequest(query=parse(""), start_ms=start, end_ms=end, size=0, facets=FACETS,
                                   histogram_ms=3_600_000))
    finally:
        answer.count = real
    return bool(calls)


def index_counts(store, start: int, end: int):
    rollups, store.rollups = store.rollups, None
    try:
        return counts(store, "", start, end)
    finally:
        store.rollups = rollups


def test_small_windows_are_counted_by_the_index(stores, used, monkeypatch):
    kept, plain = stores
    monkeypatch.setattr(answer, "FROM_EVENTS", 6001)
    assert counts(kept, "", END_MS - 3 * DAY, END_MS + 1) == counts(plain, "", END_MS - 3 * DAY, END_MS + 1)
    assert not used
    monkeypatch.setattr(answer, "FROM_EVENTS", 6000)
    counts(kept, "", END_MS - 3 * DAY, END_MS + 1)
    assert used


def test_plan_reads_only_conditions_on_count_dimensions():
    assert answer.conditions(parse("")) == {}
    assert answer.conditions(parse("log.level:error service.name:wallet")) == {"log.level": ["error"],
                                                                                "service.name": ["wallet"]}
    assert answer.conditions(parse("log.level:error OR log.level:info")) == {"log.level": ["error", "info"]}
    assert answer.conditions(parse("event.component:integration AND integration.status:(error OR timeout)")) == {
        "event.component": ["integration"], "integration.status": ["error", "timeout"]}
    for query in ["actor.id:p-1", "log.level:error OR service.name:wallet", "-log.level:error", "timeout",
                  "log.level:err*", "log.level:error log.level:info", "log.level:error OR (log.level:info service.name:x)"]:
        assert answer.conditions(parse(query)) is None, query
    five = answer.COUNT_DIMENSIONS[:5]     # rollups migrated from the first layout, not rebuilt yet
    assert answer.conditions(parse("integration.provider:NetEnt"), five) is None
    assert answer.plan(parse(""), 0, END_MS, ("integration.provider", "log.level"), None, five).dims == (1,)
    assert answer.plan(parse(""), None, END_MS, ("log.level",), None) is None
    assert answer.plan(parse(""), END_MS - 30_000, END_MS, ("log.level",), None) is None   # no whole minute
    assert answer.plan(parse(""), 0, END_MS, ("actor.type",), 30_000) is None             # nothing to answer
    p = answer.plan(parse(""), 61_000, 600_001, ("actor.type", "log.level"), 120_000)
    assert (p.inner_start, p.inner_end, p.dims, p.histogram) == (120_000, 600_000, (1,), True)
