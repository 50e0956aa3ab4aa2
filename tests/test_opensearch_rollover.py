"""The OpenSearch rollover layout (app/storage/opensearch_layout.py, opensearch_rollover.py): a
generation per component, cut by size and age at an event time ahead of now, with the store's
guarantees across the cut — a re-sent client id meets its first copy, a backfill lands where its
time is, time order and cursors run across generations, retention drops whole generations and
trims the boundary one; stores of the old daily layout keep working; two processes agree.
Then `search_many` (one `_msearch`) against `search`."""
from __future__ import annotations

import time

import pytest

from app.events.convert import format_ts
from app.query import parse
from app.storage import SearchRequest, StoreError, open_store
from app.storage import opensearch_templates as templates
from app.storage.opensearch_layout import generation_name, parse_generation, parse_legacy
from app.storage.opensearch_rollover import Bounds, parse_age, parse_size
from app.query.ast import QueryError

HOUR = 3_600_000
DAY = 24 * HOUR
DAY0 = 1_794_960_000_000  # 2026-11-18T00:00:00Z


def event(ts_ms: int, eid: str, component: str = "system", client_id: bool = True, **extra) -> dict:
    return {"@timestamp": format_ts(ts_ms), "event": {"id": eid, "component": component, "type": "other"},
            "_ts": ts_ms, **({"_client_id": True} if client_id else {}), **extra}


@pytest.fixture
def url(request, tmp_path):
    from conftest import store_url_for
    return store_url_for("opensearch", tmp_path, request)


def generations(store, component: str = "system") -> list[str]:
    return sorted(r["index"] for r in store._index_rows() if r["index"].startswith(f"{store.prefix}-{component}-g"))


def ids_in(store, index: str) -> set[str]:
    store.client.indices.refresh(index=index)
    hits = store.client.search(index=index, body={"size": 1000, "_source": ["event.id"]})["hits"]["hits"]
    return {h["_source"]["event"]["id"] for h in hits}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- pure parts ----------------------------------------------------------------------------------

def test_names_and_bounds():
    name = generation_name("platlogs", "user_activity", DAY0 + 90_001)   # rounded up to the minute
    assert name == "platlogs-user_activity-g20261118t0002"
    assert parse_generation("platlogs", name, ["user_activity"]) == ("user_activity", DAY0 + 120_000)
    assert parse_generation("platlogs", "platlogs-api-2026.11.18", ["api"]) is None
    assert parse_legacy("platlogs", "platlogs-api-2026.11.18", ["api"]) == ("api", DAY0, DAY0 + DAY)
    assert parse_legacy("platlogs", name, ["user_activity"]) is None
    assert parse_age("5d") == 5 * DAY and parse_age("90m") == 90 * 60_000 and parse_size("30gb") == 30 << 30
    with pytest.raises(ValueError):
        parse_age("5 days")
    bounds = Bounds.from_meta({"max_age": "5d", "max_size": "30gb"}, {"max_docs": "10"})
    assert bounds.reached(0, 1 << 40, 10 * DAY) is None                # an empty generation stays
    assert bounds.reached(3, 100, DAY) is None
    assert bounds.reached(10, 100, DAY) == {"max_docs": 10}
    assert bounds.reached(1, 30 << 30, 6 * DAY) == {"max_age": f"{5 * DAY}ms", "max_size": f"{30 << 30}b"}


def test_every_component_has_rollover_bounds_and_a_generation_policy():
    meta = templates.rollover_meta()
    days = templates.retention_days()
    for component, spec in meta.items():
        bounds = Bounds.from_meta(spec)
        assert bounds.max_age_ms <= days[component] * DAY / 4, component   # retention stays fine-grained
    policies = templates.all_policies()
    generation = policies["platlogs-api-rollover-retention"]["policy"]
    assert generation["ism_template"] == [{"index_patterns": ["platlogs-api-g*"], "priority": 200}]
    conditions = [t["conditions"] for s in generation["states"] for t in s.get("transitions", [])]
    assert conditions == [{"min_rollover_age": "7d"}, {"min_rollover_age": "31d"}]
    legacy = policies["platlogs-api-retention"]["policy"]
    assert [t["conditions"] for s in legacy["states"] for t in s.get("transitions", [])] == \
        [{"min_index_age": "7d"}, {"min_index_age": "30d"}]


# -- rollover on the node --------------------------------------------------------------------------

def test_rollover_by_size_cuts_ahead_of_now_and_keeps_the_guarantees(url):
    store = open_store(url + "&rollover_max_docs=3&rollover_check=0s")
    try:
        start = now_ms()
        first = [event(start - DAY + i * 1000, f"r{i}") for i in range(4)]
        assert store.write(first).stored == 4
        (old,) = generations(store)
        store.client.indices.refresh(index=old)   # sizes are read from the node's (refreshed) stats
        # the next write finds the generation full and cuts it at least an hour ahead
        assert store.write([event(start - DAY + 10_000, "r10")]).stored == 1
        old_gen, new_gen = generations(store)
        assert old_gen == old
        cut = parse_generation(store.prefix, new_gen, store.components)[1]
        assert start + HOUR <= cut <= now_ms() + HOUR + 60_000
        assert ids_in(store, old) == {"r0", "r1", "r2", "r3", "r10"}
        # events before the cut still go to the old generation, those after it to the new one
        result = store.write([event(cut - 1, "before-cut"), event(cut, "at-cut"), event(start - 40 * DAY, "backfill"),
                              event(start - DAY, "r0")])
        assert result.stored == 3 and result.duplicates == [3]   # the re-sent client id met its first copy
        assert ids_in(store, new_gen) == {"at-cut"}
        assert {"before-cut", "backfill"} <= ids_in(store, old)
        assert store.write([event(cut + 5, "at-cut")]).duplicates == [0]
        # one time order, and cursors, across both generations
        seen, cursor = [], None
        while True:
            page = store.search(SearchRequest(size=3, cursor=cursor, newest_first=False, total_bound=0))
            seen += [h["event"]["id"] for h in page.hits]
            if not (cursor := page.next_cursor):
                break
        assert seen[:2] == ["backfill", "r0"] and seen[-2:] == ["before-cut", "at-cut"]
        assert store.count() == len(seen) == len(set(seen))
    finally:
        store.close()


def test_two_processes_cut_a_generation_once(url):
    a = open_store(url + "&rollover_max_docs=2&rollover_check=1h")
    b = open_store(url + "&rollover_max_docs=2&rollover_check=1h")
    try:
        t = now_ms() - HOUR
        assert b.write([event(t - 1, "x0")]).stored == 1   # b reads the list of generations now
        assert a.write([event(t, "x1"), event(t + 1, "x2")]).stored == 2
        a.client.indices.refresh(index=f"{a.prefix}-*")
        rows = a._index_rows()
        assert a.rollover.maintain(rows) is True
        b.rollover.maintain(rows)                       # the same full generation seen by b: cut once only
        assert len(generations(a)) == 2
        # b's list is from before the cut: still right for events before it (the cut is an hour
        # ahead), and an event past b's horizon makes b read the list again
        assert b.write([event(t + 2, "x3")]).stored == 1
        assert ids_in(a, generations(a)[0]) == {"x0", "x1", "x2", "x3"}
        cut = parse_generation(a.prefix, generations(a)[1], a.components)[1]
        assert b.write([event(cut + 1000, "late-future")]).stored == 1
        assert a.write([event(cut + 1000, "late-future")]).duplicates == [0]
        assert ids_in(a, generations(a)[1]) == {"late-future"}
    finally:
        a.close()
        b.close()


def test_retention_drops_old_generations_whole_and_trims_the_boundary(url):
    store = open_store(url + "&rollover_max_docs=2&rollover_check=0s")
    try:
        t = now_ms()
        refresh = lambda: store.client.indices.refresh(index=f"{store.prefix}-*")  # noqa: E731
        store.write([event(t - 10 * DAY, "d10"), event(t - 9 * DAY, "d9")])
        refresh()
        store.write([event(t - 8 * DAY, "d8")])            # cut before this write: d8 still in the first
        first = generations(store)[0]
        store.write([event(t + 2 * HOUR, "f1"), event(t + 3 * HOUR, "f2")])   # second generation (after the cut)
        refresh()
        store.write([event(t + 4 * HOUR, "f3")])           # cut again: a third
        assert len(generations(store)) == 3
        dropped = store.drop_partitions_before((t - 8 * DAY) // DAY * DAY)   # the day of d8 and later stay
        assert all(name.startswith(first + "/") for name in dropped) and len(dropped) == 2
        assert first in generations(store) and ids_in(store, first) == {"d8"}   # trimmed, not deleted
        assert store.get("d9") is None and store.get("d8") is not None
        dropped = store.drop_partitions_before(t + DAY * 2)
        assert first not in generations(store)              # wholly expired: deleted
        newest = generations(store)[-1]
        assert newest in generations(store) and store.count() == 0   # the newest stays, emptied
        assert store.write([event(t + 5 * HOUR, "again")]).stored == 1
    finally:
        store.close()


def test_a_store_of_the_old_daily_layout_keeps_working(url):
    """Indices an earlier version made (`<prefix>-<component>-YYYY.MM.DD`): read with the rest, and
    an event of their day still goes there, so a re-sent id meets its first copy."""
    store = open_store(url)
    try:
        legacy = f"{store.prefix}-system-2026.11.18"
        store.client.index(index=legacy, id="old-1", body={"@timestamp": format_ts(DAY0 + 5), "message": "before",
                                                            "event": {"id": "old-1", "component": "system"}},
                           params={"op_type": "create", "refresh": "true"})
        assert store.get("old-1")["message"] == "before"
        result = store.write([event(DAY0 + 5, "old-1"), event(DAY0 + 9, "same-day"), event(DAY0 + DAY, "next-day")])
        assert result.stored == 2 and result.duplicates == [0]
        assert ids_in(store, legacy) == {"old-1", "same-day"}
        assert ids_in(store, generations(store)[0]) == {"next-day"}
        names = [p.name for p in store.partitions()]
        assert names == [legacy, f"{generations(store)[0]}/2026.11.19"]
        hits = store.search(SearchRequest(newest_first=False)).hits
        assert [h["event"]["id"] for h in hits] == ["old-1", "same-day", "next-day"]
        assert store.drop_partitions_before(DAY0 + DAY) == [legacy]
        assert store.count() == 1
    finally:
        store.close()


# -- search_many ----------------------------------------------------------------------------------

def test_search_many_answers_like_search_each_in_its_place(url):
    store = open_store(url)
    try:
        store.write([event(DAY0 + i * 60_000, f"m{i}", "integration" if i % 2 else "api",
                           integration={"provider": f"p{i % 3}"}, message=f"word{i % 4} common") for i in range(40)])
        requests = [
            SearchRequest(query=parse("common"), size=5),
            SearchRequest(query=parse("word1"), size=0, total_bound=100, start_ms=DAY0, end_ms=DAY0 + 20 * 60_000),
            SearchRequest(query=parse("common"), size=0, total_bound=0, facets=("integration.provider",),
                          histogram_ms=600_000, start_ms=DAY0, end_ms=DAY0 + HOUR),
            SearchRequest(query=parse("common"), facets=("message",)),           # refused: not a facet here
            SearchRequest(query=parse("common"), size=2, facets=("event.component",), budget_ms=0),
        ]
        many = store.search_many(requests)
        assert isinstance(many[3], QueryError)
        for request, got in zip(requests, many):
            if isinstance(got, Exception):
                with pytest.raises(type(got)):
                    store.search(request)
                continue
            assert got == store.search(request)
        page = store.search(SearchRequest(query=parse("common"), size=5))
        follow = SearchRequest(query=parse("common"), size=5, cursor=page.next_cursor)
        assert store.search_many([follow])[0].hits == store.search(follow).hits
    finally:
        store.close()


def test_search_many_on_a_node_gone_away_is_a_store_error_per_request(url):
    from urllib.parse import urlsplit
    from test_opensearch import FaultProxy
    parts = urlsplit(url)
    proxy = FaultProxy(f"http://{parts.hostname}:{parts.port}", [])
    store = open_store(f"opensearch://127.0.0.1:{proxy.port}?{parts.query}", retries=0)
    try:
        store.write([event(DAY0, "one")])
        proxy.down = True
        answers = store.search_many([SearchRequest(), SearchRequest(query=parse("one"))])
        assert all(isinstance(a, StoreError) for a in answers)
    finally:
        proxy.down = False
        store.close()
        proxy.close()


def test_a_generation_of_an_older_template_is_cut_once_for_the_new_mappings(url, monkeypatch):
    """A version bump of the common template (new mappings) reaches the next generation without
    waiting for the bounds: the newest generation, made by the older template, is cut as soon as
    it holds an event — once, however many processes see it."""
    old = open_store(url + "&rollover_check=1h")
    try:
        assert old.write([event(now_ms() - HOUR, "before")]).stored == 1
        old.client.indices.refresh(index=f"{old.prefix}-*")
        first = generations(old)
        assert len(first) == 1
        version = templates.template_version()
        meta = old.client.indices.get_mapping(index=first[0])[first[0]]["mappings"]["_meta"]
        assert meta == {"template_version": version}
        assert old.rollover.maintain(old._index_rows()) is False     # its own version: nothing to do
        monkeypatch.setattr(templates, "template_version", lambda: version + 1)
        a, b = open_store(url + "&rollover_check=1h"), open_store(url + "&rollover_check=1h")
        try:
            rows = a._index_rows()
            assert a.rollover.maintain(rows) is True
            b.rollover.maintain(rows)                                # seen by b too: cut once only
            assert len(generations(a)) == 2 and generations(a)[0] == first[0]
            newest = generations(a)[1]
            assert a.client.indices.get_mapping(index=newest)[newest]["mappings"]["_meta"] == {
                "template_version": version + 1}
            cut = parse_generation(a.prefix, newest, a.components)[1]
            assert a.write([event(cut + 1000, "after")]).stored == 1
            a.client.indices.refresh(index=f"{a.prefix}-*")
            assert a.rollover.maintain(a._index_rows()) is False     # the new generation is current
            assert ids_in(a, newest) == {"after"} and ids_in(a, first[0]) == {"before"}
        finally:
            a.close()
            b.close()
    finally:
        old.close()
