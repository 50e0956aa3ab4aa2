"""Search on a known data set: every query form is checked against a brute-force filter over the
same events (a second, deliberately naive implementation of the language's meaning)."""
from __future__ import annotations

import re
import threading
import unicodedata
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from app import create_app
from app.demo.generator import generate
from app.query import QueryError, parse
from app.query.ast import And, Exists, MatchAll, Not, Or, Prefix, Range, Term, Text
from app.events.schema import load_schema
from app.query.fields import resolve
from app.query.timeexpr import parse_time
from app.events.schema import get_path
from app.storage import SearchRequest
from app.storage.sqlite import SQLiteStore

from conftest import BACKENDS, store_url_for

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
END_MS = int(END.timestamp() * 1000)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """3,000 demo events over 3 days, stored on each backend in turn; and the same events as
    stored, for brute force."""
    data_dir = tmp_path_factory.mktemp("search")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(generate(3000, days=3, seed=11, end=END))]
    report = services.ingestor.ingest(lines, position="line")
    assert report.accepted == 3000
    events, cursor = [], None
    while True:  # read everything back through paging itself
        result = services.store.search(SearchRequest(size=700, cursor=cursor, newest_first=False, total_bound=0))
        events += result.hits
        cursor = result.next_cursor
        if cursor is None:
            break
    assert len(events) == 3000 and len({e["event"]["id"] for e in events}) == 3000
    yield app, services, events
    services.close()


# -- the brute-force meaning of a query ----------------------------------------------------

def fold(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return [w.lower() for w in re.findall(r"\w+", text)]


KEY_FIELDS = ("actor.id", "target.id", "correlation.id", "session.id", "payment.transaction_id", "game.round_id")


def text_of(event: dict, field: str | None) -> list[str]:
    names = [field] if field else ["message", "error.message"]
    return [v for v in (get_path(event, n) for n in names) if isinstance(v, str)]


def all_values(e: dict) -> list[tuple[tuple[str, ...], object]]:
    """Every leaf value of an event with its path (list items under their list's path)."""
    out, stack = [], [((), e)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack += [(path + (k,), v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(path, v) for v in node]
        else:
            out.append((path, node))
    return out


def every_value_matches(node: Text, e: dict) -> bool:
    """A bare term on the search stores (issue 13): its words in the texts and in any text-like
    value (words with a space or slash between) but an identifier, or a whole value (any case,
    accents folded), or the event id in any case."""
    def text_like(value: str) -> bool:
        return len(tokens_of(value)) > 1 and re.search(r"[\s/\\]", value) is not None
    schema = load_schema().fields
    identifiers = {f.path for f in schema.values() if f.identifier}
    texts = {("message",), ("error", "message"), ("error", "stack_trace")}
    skipped = {f.path for f in schema.values() if f.type in ("date", "boolean", "double")} | {("@timestamp",)}
    words = tokens_of(node.value)
    for path, value in all_values(e):
        if path in skipped or isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        text = str(value)
        if path == ("event", "id"):
            if text.lower().startswith(node.value.lower()) if node.prefix else text.lower() == node.value.lower():
                return True
            continue
        if node.prefix:
            if len(text) <= 256 and "".join(unicode_fold(text)).startswith("".join(unicode_fold(node.value))):
                return True
        elif len(text) <= 256 and unicode_fold(text) == unicode_fold(node.value):
            return True
        if path in identifiers or not words or (path not in texts and len(text) <= 256 and not text_like(text)):
            continue
        tokens = tokens_of(text)
        for i in range(len(tokens)):
            window = tokens[i:i + len(words)]
            if node.prefix:
                if len(window) == len(words) and window[:-1] == words[:-1] and window[-1].startswith(words[-1]):
                    return True
            elif window == words:
                return True
    return False


def tokens_of(text: str) -> list[str]:
    """Words as the search stores split them: runs of letters and digits (not `_`), folded."""
    return re.findall(r"[^\W_]+", unicode_fold(text))


def unicode_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def matches(node, e: dict, every_value: bool = False) -> bool:
    if isinstance(node, MatchAll):
        return True
    if isinstance(node, And):
        return all(matches(n, e, every_value) for n in node.items)
    if isinstance(node, Or):
        return any(matches(n, e, every_value) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, e, every_value)
    if isinstance(node, Text) and node.field is None and every_value:
        return every_value_matches(node, e)
    if isinstance(node, Text):
        words = fold(node.value)
        texts = text_of(e, node.field)
        for text in texts:
            tokens = fold(text)
            if node.prefix:
                hit = all(w in tokens for w in words[:-1]) and any(t.startswith(words[-1]) for t in tokens)
            else:
                hit = all(w in tokens for w in words)
            if hit and (node.prefix or not (node.phrase or len(words) > 1) or node.value.lower() in text.lower()):
                return True
        if node.field is None and not node.phrase:
            wanted = "".join(re.findall(r"[^\W_]+", node.value)).lower()
            for name in (*KEY_FIELDS, "event.id"):
                value = get_path(e, name)
                if isinstance(value, str):
                    folded = "".join(re.findall(r"[^\W_]+", value)).lower()
                    if (folded.startswith(wanted) if node.prefix else folded == wanted) and \
                            (node.prefix or value == node.value or len(words) == 1):
                        return True
        return False
    info = resolve(node.field)
    value = get_path(e, node.field)
    if isinstance(node, Exists):
        return value is not None
    if value is None:
        return False
    def typed(v):
        if info.type in ("long", "double"):
            return float(v)
        if info.type == "date":
            return parse_time(v, END_MS)
        return v
    actual = typed(value) if not isinstance(value, list) else value
    if every_value and info.identifier and isinstance(value, str):   # identifiers: any case
        if isinstance(node, Term):
            return unicode_fold(value) == unicode_fold(node.value)
        if isinstance(node, Prefix):
            return unicode_fold(value).startswith(unicode_fold(node.value))
    if isinstance(node, Term):
        if isinstance(value, list):
            return node.value in value
        return actual == typed(node.value)
    if isinstance(node, Prefix):
        return isinstance(value, str) and value.startswith(node.value)
    if isinstance(node, Range):
        if node.low is not None and not (actual >= typed(node.low) if node.include_low else actual > typed(node.low)):
            return False
        if node.high is not None and not (actual <= typed(node.high) if node.include_high else actual < typed(node.high)):
            return False
        return True
    raise AssertionError(node)


def searches_every_value(services) -> bool:
    """The search stores find a bare term in every value; the legacy SQLite store in its text."""
    return not isinstance(services.store, SQLiteStore)


def search_ids(services, q: str, **kwargs) -> list[str]:
    ids, cursor = [], None
    while True:
        result = services.store.search(SearchRequest(query=parse(q), size=500, cursor=cursor, now_ms=END_MS,
                                                     total_bound=0, **kwargs))
        ids += [h["event"]["id"] for h in result.hits]
        cursor = result.next_cursor
        if cursor is None:
            return ids


def pick(events, field):
    values = [get_path(e, field) for e in events if get_path(e, field) is not None]
    assert values, field
    return values[len(values) // 2]


QUERIES = [
    "", "*", "deposit", "Deposit", "timeout", "declined", "deposit OR withdrawal", "deposit AND approved",
    '"wallet/debit"', '"logged out"', "time*", "-deposit", "NOT log.level:info",
    "log.level:error", "log.level:(error OR critical)", "event.component:integration",
    "event.component:api AND http.response.status_code:>=500", "http.response.status_code:[400 TO 499]",
    "http.response.status_code:{200 TO 404]", "http.response.status_code:<300", "payment.amount:>100",
    "payment.amount:[10 TO 50]", "http.duration:>1000", "error:*", "payment:*", "-payment:*", "changes:*",
    "service.name:api-gateway", "service.name:api-*", "url.path:/api/v1/payments*", "actor.type:employee",
    "event.outcome:failure AND actor.type:player", "integration.status:timeout", "integration.provider:*",
    "message:round", "message:\"on Sugar\"", "error.message:column", "tags:timestamp_assigned",
    "event.classified_by:error-fields", "actor.ip:192.0.2.1", "labels.nothing:x", "game.bet:>=1",
    "(event.component:api OR event.component:integration) -log.level:info",
    "@timestamp:>=now-1d", "@timestamp:[2026-11-19T00:00:00Z TO 2026-11-19T12:00:00Z]",
]


@pytest.mark.parametrize("q", QUERIES)
def test_query_forms_return_exactly_the_right_events(world, q):
    _, services, events = world
    node = parse(q)
    expected = {e["event"]["id"] for e in events if matches(node, e, searches_every_value(services))}
    got = search_ids(services, q)
    assert len(got) == len(set(got)), "an event came twice"
    assert set(got) == expected


@pytest.mark.parametrize("field", ["actor.id", "correlation.id", "payment.transaction_id", "session.id",
                                   "game.round_id", "target.id"])
def test_exact_lookups_and_free_text_ids(world, field):
    _, services, events = world
    value = pick(events, field)
    expected = {e["event"]["id"] for e in events if get_path(e, field) == value}
    assert set(search_ids(services, f'{field}:"{value}"')) == expected
    free = {e["event"]["id"] for e in events
            if matches(parse(f'"{value}"' if " " in value else value), e, searches_every_value(services))}
    assert expected <= free and set(search_ids(services, value)) == free


def test_time_window_and_order(world):
    _, services, events = world
    start, end = END_MS - 86_400_000, END_MS - 3_600_000
    expected = [e["event"]["id"] for e in sorted(events, key=lambda e: e["@timestamp"])
                if start <= parse_time(e["@timestamp"], 0) < end]
    asc = search_ids(services, "", start_ms=start, end_ms=end, newest_first=False)
    desc = search_ids(services, "", start_ms=start, end_ms=end)
    assert set(asc) == set(expected) and asc == list(reversed(desc))
    stamps = [parse_time(e["@timestamp"], 0) for e in events if e["event"]["id"] in set(asc)]
    assert len(stamps) == len(expected)


def test_total_facets_and_histogram_agree(world):
    _, services, events = world
    q = "event.component:api OR event.component:integration"
    expected = [e for e in events if matches(parse(q), e, searches_every_value(services))]
    result = services.store.search(SearchRequest(
        query=parse(q), size=5, facets=("event.component", "log.level", "service.name"), facet_size=100,
        histogram_ms=3_600_000, start_ms=END_MS - 3 * 86_400_000, end_ms=END_MS + 1, now_ms=END_MS))
    assert result.total == len(expected) and result.total_exact
    components = {v.value: v.count for v in result.facets["event.component"].values}
    assert components == {c: sum(1 for e in expected if e["event"]["component"] == c) for c in ("api", "integration")}
    levels = result.facets["log.level"]
    assert sum(v.count for v in levels.values) == len(expected) and not levels.approximate
    assert sum(b.count for b in result.histogram) == len(expected)
    assert len(result.histogram) == 73  # every hour of the window, zeros included


def test_facets_are_exact_unless_marked_approximate(world):
    """A store may bound the work of a facet (the embedded store counts the newest
    `facet_bound` matches) but must then say so; OpenSearch's terms aggregations count all."""
    _, services, events = world
    result = services.store.search(SearchRequest(facets=("event.component",), facet_bound=500, total_bound=100))
    facet = result.facets["event.component"]
    counted = sum(v.count for v in facet.values)
    if facet.approximate:
        assert counted == 500
    else:
        assert counted == services.store.count() >= len(events)
    assert isinstance(services.store, SQLiteStore) <= facet.approximate   # the embedded store bounds facets
    assert result.total == 100 and not result.total_exact


def test_a_facet_out_of_time_is_reported_and_the_search_still_answers(world):
    _, services, _ = world
    result = services.store.search(SearchRequest(query=parse("deposit OR round OR api"), facets=("service.name",),
                                                 budget_ms=0, size=3))
    assert result.facets["service.name"].timed_out and len(result.hits) == 3


def test_paging_never_repeats_or_skips_while_ingest_runs(world):
    _, services, events = world
    before = {e["event"]["id"] for e in events}
    stop = threading.Event()

    def ingest():  # new events land in the same days and times while we page
        i = 0
        while not stop.is_set():
            batch = [(n, {"@timestamp": e["@timestamp"], "message": "late arrival", "event": {"id": f"late-{i}-{n}"}})
                     for n, e in enumerate(events[i % 3000: i % 3000 + 50])]
            services.ingestor.ingest(batch)
            i += 50

    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        seen, cursor = [], None
        while True:
            result = services.store.search(SearchRequest(size=97, cursor=cursor, total_bound=0))
            seen += [h["event"]["id"] for h in result.hits]
            cursor = result.next_cursor
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "a page repeated an event"
    assert before <= set(seen), "paging skipped an event that existed before it started"


def test_cursor_from_elsewhere_is_refused(world):
    _, services, _ = world
    from app.storage import CursorError
    with pytest.raises(CursorError):
        services.store.search(SearchRequest(cursor="bm9wZQ"))
    first = services.store.search(SearchRequest(size=1))
    with pytest.raises(CursorError, match="other sort order"):
        services.store.search(SearchRequest(size=1, cursor=first.next_cursor, newest_first=False))


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.lists(st.sampled_from(
    ["actor.id:", "p-1", "OR", "AND", "NOT", "-", "(", ")", '"', "*", "message:", "[1 TO 5]", ">=", "log.level:",
     "payment.amount:", "error:", "deposit", "\\", ":", "{", "}", "labels.x:", "@timestamp:", "now-1h"]),
    max_size=8).map(" ".join))
def test_no_query_string_crashes_the_search(world, q):
    """Parse, compile and run against the real store: a QueryError or an answer, never a crash."""
    _, services, _ = world
    try:
        node = parse(q)
    except QueryError:
        return
    try:
        services.store.search(SearchRequest(query=node, size=2, total_bound=10, now_ms=END_MS))
    except QueryError:
        pass


@pytest.mark.parametrize("start_offset,end_offset", [(0, 0), (17_345, -41_002), (59_999, -1)])
def test_unfiltered_histogram_from_minute_counts_matches_the_events(world, start_offset, end_offset):
    """The no-query histogram comes from per-minute counts plus exact edge minutes: same buckets."""
    _, services, events = world
    start, end = END_MS - 2 * 86_400_000 + start_offset, END_MS + end_offset
    width = 3_600_000
    result = services.store.search(SearchRequest(histogram_ms=width, start_ms=start, end_ms=end, size=0))
    stored, cursor = [], None   # read back now: earlier tests may have added events
    while True:
        page = services.store.search(SearchRequest(size=1000, cursor=cursor, total_bound=0))
        stored += page.hits
        if (cursor := page.next_cursor) is None:
            break
    assert len(stored) >= len(events)
    expected: dict[int, int] = {}
    for e in stored:
        ts = parse_time(e["@timestamp"], 0)
        if start <= ts < end:
            expected[(ts // width) * width] = expected.get((ts // width) * width, 0) + 1
    assert {b.start_ms: b.count for b in result.histogram if b.count} == expected
