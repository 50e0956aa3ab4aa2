"""search_many on OpenSearch merges requests of one window and shape into one search
(app/storage/opensearch_batch.py): counts (with and without the newest / oldest hits, bounded
totals) and value counts (facets) become named filters of a `filters` aggregation. Every request
still gets exactly what `search` gives it: different queries and group fields sharing a window,
a group field the events lack, an IP and a number field, a window across a rollover, a merged
search the node refuses (each request is then asked on its own, so the refusal is one
request's). And the alert evaluation over such data is the same batched or not."""
from __future__ import annotations

import time

import orjson
import pytest

from app.alerts.evaluate import evaluate, evaluate_many
from app.alerts.model import Rule
from app.events.convert import format_ts
from app.query import parse
from app.query.ast import QueryError
from app.storage import SearchRequest, open_store
from app.storage import opensearch_batch as batch

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


@pytest.fixture
def url(request, tmp_path):
    from conftest import store_url_for
    return store_url_for("opensearch", tmp_path, request)


def event(ts: int, eid: str, component: str = "user_activity", **extra) -> dict:
    return {"@timestamp": format_ts(ts), "_ts": ts, "_client_id": True,
            "event": {"id": eid, "component": component, "type": "other", **extra.pop("event", {})}, **extra}


def traffic(start: int) -> list[dict]:
    out = []
    for i in range(60):
        ts = start + i * MIN
        out.append(event(ts, f"login-{i}", event={"action": "login_failed" if i % 3 else "login"},
                         actor={"type": "player", "id": f"p-{i % 4}", "ip": f"192.0.2.{i % 5}"},
                         message=f"attempt {i}"))
        out.append(event(ts + 1, f"call-{i}", "integration", integration={"provider": f"prov-{i % 3}",
                                                                           "status": "error" if i % 4 == 0 else "ok"}))
        out.append(event(ts + 2, f"api-{i}", "api", http={"response": {"status_code": 500 if i % 7 == 0 else 200}},
                         service={"name": f"svc-{i % 2}"}))
    return out


def counts(start: int, end: int) -> list[SearchRequest]:
    window = dict(start_ms=start, end_ms=end, now_ms=end)
    return [
        SearchRequest(query=parse("event.action:login_failed"), size=0, total_bound=10_000_000, **window),
        SearchRequest(query=parse("event.action:login_failed AND actor.id:p-1"), size=5, **window),
        SearchRequest(query=parse("event.component:integration"), size=5, newest_first=False, **window),
        SearchRequest(query=parse("integration.status:error"), size=0, total_bound=3, **window),   # bounded
        SearchRequest(query=parse("actor.ip:192.0.2.4"), size=5, total_bound=0, **window),         # hits only
        SearchRequest(query=parse("event.action:nothing_like_it"), size=5, **window),              # none
        SearchRequest(size=0, total_bound=1, **window),                                           # any data?
        SearchRequest(query=parse("attempt"), size=0, total_bound=10_000_000, **window),
    ]


def groups(start: int, end: int) -> list[SearchRequest]:
    window = dict(start_ms=start, end_ms=end, now_ms=end, size=0, total_bound=0, facet_size=10_000,
                  budget_ms=30_000)
    return [
        SearchRequest(query=parse("event.action:login_failed"), facets=("actor.id",), **window),
        SearchRequest(query=parse("event.component:user_activity"), facets=("actor.id",), **window),
        SearchRequest(query=parse("event.action:login_failed"), facets=("actor.ip",), **window),
        SearchRequest(query=parse("event.component:integration"), facets=("integration.provider",), **window),
        SearchRequest(query=parse("integration.status:error"), facets=("integration.provider",), **window),
        SearchRequest(query=parse("event.component:api"), facets=("http.response.status_code",), **window),
        SearchRequest(query=parse("event.component:api"), facets=("service.name",), **window),
        SearchRequest(query=parse("event.component:api"), facets=("actor.id",), **window),   # no api event has one
        SearchRequest(query=parse("event.component:integration"), facets=("service.name",), **window),
    ]


def assert_like_search(store, requests):
    many = store.search_many(requests)
    for request, got in zip(requests, many):
        if isinstance(got, Exception):
            with pytest.raises(type(got)):
                store.search(request)
        else:
            assert got == store.search(request), request


def test_requests_sharing_a_window_are_merged_and_answered_as_search_answers_them(url):
    store = open_store(url)
    try:
        start = int(time.time() * 1000) // MIN * MIN - 2 * DAY
        assert store.write(traffic(start)).stored == 180
        requests = counts(start + 5 * MIN, start + 50 * MIN) + groups(start + 5 * MIN, start + 50 * MIN)
        requests += counts(start, start + 2 * HOUR)[:3] + groups(start - HOUR, start + 20 * MIN)[:2]
        keys = {batch.shape(r) for r in requests}
        assert None not in keys and len(keys) == 10 and len(requests) == 22
        sent = []
        real = store.client.msearch
        store.client.msearch = lambda **kw: sent.append(kw["body"].count(b"\n") // 2) or real(**kw)
        many = store.search_many(requests)
        assert sum(sent) == len(keys)             # a search per shape (counts of any window share one)
        store.client.msearch = real
        for request, got in zip(requests, many):
            assert got == store.search(request), request
        # and the answers are not trivial ones:
        assert many[0].total == 30 and many[0].total_exact
        assert many[3].total == 3 and not many[3].total_exact            # bounded like track_total_hits
        assert len(many[1].hits) == 5 and many[2].hits[0]["event"]["id"] == "call-5"
        assert many[4].total == 0 and len(many[4].hits) == 5
        assert [v.value for v in many[8 + 7].facets["actor.id"].values] == []   # the group field is missing
        assert {v.value for v in many[8 + 5].facets["http.response.status_code"].values} == {200, 500}
    finally:
        store.close()


def test_a_window_across_a_rollover_is_counted_in_both_generations(url):
    store = open_store(url + "&rollover_max_docs=20&rollover_check=0s")
    try:
        start = int(time.time() * 1000) // MIN * MIN - 3 * HOUR
        events = traffic(start)
        assert store.write(events[:60]).stored == 60
        for name in (r["index"] for r in store._index_rows()):
            store.client.indices.refresh(index=name)
        assert store.write(events[60:]).stored == 120   # the full generations roll over ahead of now
        later = [event(int(time.time() * 1000) + 2 * HOUR + i * MIN, f"late-{i}", event={"action": "login_failed"},
                       actor={"type": "player", "id": f"p-{i % 2}"}) for i in range(10)]
        assert store.write(later).stored == 10
        gens = [r["index"] for r in store._index_rows() if "-user_activity-g" in r["index"]]
        assert len(gens) >= 2
        end = int(time.time() * 1000) + 3 * HOUR
        requests = counts(start, end) + groups(start, end)
        assert_like_search(store, requests)
        answered = store.search_many(requests)
        assert answered[0].total == 40 + 10
        assert {v.value: v.count for v in answered[8].facets["actor.id"].values} == {
            "p-0": 10 + 5, "p-1": 10 + 5, "p-2": 10, "p-3": 10}
    finally:
        store.close()


def test_a_merged_search_the_node_refuses_is_asked_request_by_request(url, monkeypatch):
    store = open_store(url)
    try:
        start = int(time.time() * 1000) // MIN * MIN - 2 * DAY
        store.write(traffic(start))
        requests = counts(start, start + HOUR) + groups(start, start + HOUR)
        bad = requests[1]
        real = type(store)._filter

        def refused(self, request):   # a query the node refuses, in one request of each merged search
            if request is bad or request is requests[-2]:
                return {"regexp": {"actor.id": {"value": "p-[1"}}}   # refused on the shards
            return real(self, request)

        expected = [store.search(r) for r in requests]
        monkeypatch.setattr(type(store), "_filter", refused)
        many = store.search_many(requests)
        assert isinstance(many[1], QueryError) and isinstance(many[-2], QueryError)
        assert [got for i, got in enumerate(many) if i not in (1, len(requests) - 2)] == \
            [want for i, want in enumerate(expected) if i not in (1, len(requests) - 2)]
    finally:
        store.close()


def test_alert_rules_sharing_shapes_find_the_same_batched_or_not(url):
    store = open_store(url)
    try:
        now = int(time.time() * 1000) // MIN * MIN - DAY
        start = now - HOUR
        events = traffic(start)
        for week in (1, 2):
            events += [dict(e, **{"@timestamp": format_ts(e["_ts"] - week * 7 * DAY), "_ts": e["_ts"] - week * 7 * DAY,
                                  "event": {**e["event"], "id": f"{e['event']['id']}-w{week}"}})
                       for e in traffic(start)[: 90 * week]]
        store.write(events)
        base = dict(name="r", window_s=1800, threshold=3)
        rules = [
            Rule(id="t-ip", kind="threshold", query="event.action:login_failed", group_by="actor.ip", **base),
            Rule(id="t-id", kind="threshold", query="event.action:login_failed", group_by="actor.id", **base),
            Rule(id="t-all", kind="threshold", query="attempt", **base),
            Rule(id="t-missing", kind="threshold", query="event.component:api", group_by="actor.id", **base),
            Rule(id="r-prov", kind="ratio", query="event.component:integration", group_by="integration.provider",
                 failure_query="integration.status:error", min_count=2, **dict(base, threshold=0.1)),
            Rule(id="r-svc", kind="ratio", query="event.component:api", group_by="service.name",
                 failure_query="http.response.status_code:>=500", **dict(base, threshold=0.05)),
            Rule(id="s-svc", kind="spike", query="event.component:api", group_by="service.name", **base),
            Rule(id="a-prov", kind="absence", query="event.component:integration", group_by="integration.provider",
                 expected_groups=("prov-0", "prov-9"), **dict(base, threshold=1)),
            Rule(id="a-habit", kind="absence", query="event.component:user_activity", group_by="actor.id",
                 baseline_periods=2, **dict(base, threshold=20)),
        ]
        got = evaluate_many(rules, store, now)
        assert got == [evaluate(r, store, now) for r in rules]
        assert not any(e.error for e in got)
        fired = {e.rule.id for e in got if any(f.state == "alert" for f in e.findings)}
        assert {"t-ip", "t-id", "t-all", "r-prov", "a-prov"} <= fired
    finally:
        store.close()


def test_value_counts_too_many_for_one_response_are_split_in_halves(url):
    """A merged search whose buckets pass search.max_buckets (a cluster setting, so injected here:
    the node answers a merged search of more than two value counts as it would then) is asked
    again in halves, not one by one."""
    store = open_store(url)
    try:
        start = int(time.time() * 1000) // MIN * MIN - 2 * DAY
        store.write(traffic(start))
        requests = groups(start, start + HOUR)
        real = store.client.msearch
        sizes = []

        def msearch(body, **kw):
            bodies = [orjson.loads(line) for line in body.split(b"\n")[1::2]]
            answer = real(body=body, **kw)
            for i, b in enumerate(bodies):
                inner = b.get("aggs", {}).get("m", {}).get("aggs", {}).get("q", {})
                filters = inner.get("filters", {}).get("filters", {})
                if filters and "f0" in inner.get("aggs", {}):
                    sizes.append(len(filters))
                    if len(filters) > 2:
                        answer["responses"][i] = {"status": 503, "error": {
                            "type": "too_many_buckets_exception", "reason": "Trying to create too many buckets"}}
            return answer

        store.client.msearch = msearch
        many = store.search_many(requests)
        store.client.msearch = real
        assert many == [store.search(r) for r in requests]
        # actor.id's three value counts (one search) were refused, then asked as 1 + 2; service.name's
        # and integration.provider's two each fit; the two fields with one value count each are not merged
        assert sorted(sizes) == [1, 2, 2, 2, 3]
    finally:
        store.close()


def test_windows_make_few_stretches_and_a_search_holds_at_most_max_cells_pairs():
    def ranges(query: dict) -> list[dict]:
        inner = query["bool"]["filter"][0]
        windows = inner["bool"]["should"] if "bool" in inner else [query]
        return [w["bool"]["filter"][0]["range"]["@timestamp"] for w in windows]

    # overlapping and touching windows are one range; a week earlier is another
    query = batch.any_of([(100, 200), (150, 300), (300, 400), (100 - 7 * DAY, 400 - 7 * DAY)])
    assert [(r["gte"], r["lt"]) for r in ranges(query)] == [(100 - 7 * DAY, 400 - 7 * DAY), (100, 400)]
    # every window is a bucket and every distinct query one, whatever the number of requests asking it
    keyed = [(i, ("count",), (w * MIN, (w + 10) * MIN), {"term": {"q": i % 3}}, None) for i, w in enumerate(range(30))]
    (group,) = batch.plan(keyed)
    assert len(group.windows) == 30 and len(group.queries) == 3
    assert len(group.body["aggs"]["m"]["date_range"]["ranges"]) == 30
    many = [(i, ("count",), (w * MIN, (w + 10) * MIN), {"term": {"q": i}}, None) for i, w in enumerate(range(40))]
    groups = batch.plan(many)
    assert all(len(g.windows) * len(g.queries) <= batch.MAX_CELLS for g in groups)
    assert sorted(i for g in groups for i, _, _ in g.members) == list(range(40))
    assert batch.plan(many[:1]) == []   # one request alone is not merged


def test_a_merged_search_failing_on_some_shard_is_asked_request_by_request(url):
    """A shard that fails one request's query fails the whole merged search there; the answer
    would silently lack that shard's events for every request in it. So such an answer is not
    used: each request is asked on its own (a partial answer is then its own search's)."""
    store = open_store(url)
    try:
        start = int(time.time() * 1000) // MIN * MIN - 2 * DAY
        store.write(traffic(start))
        requests = counts(start, start + HOUR) + groups(start, start + HOUR)
        real = store.client.msearch
        merged, calls = [], []

        def msearch(body, **kw):
            calls.append(body.count(b'"date_range"'))
            answer = real(body=body, **kw)
            for line, response in zip(body.split(b"\n")[1::2], answer["responses"]):
                if b'"date_range"' in line:   # as a node answers when one of its shards failed
                    merged.append(response)
                    response["_shards"] = {**response["_shards"], "failed": 1, "successful": response["_shards"]["total"] - 1}
            return answer

        store.client.msearch = msearch
        many = store.search_many(requests)
        store.client.msearch = real
        assert many == [store.search(r) for r in requests]
        assert len(merged) == calls[0] > 0 and calls[1:] == [0]   # then asked again, each on its own
    finally:
        store.close()
