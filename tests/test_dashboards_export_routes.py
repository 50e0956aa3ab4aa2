"""The route's scripted field of the OpenSearch Dashboards export (app/dashboards/opensearch_routes.py)
gives model.route's answer: its painless source run on the real OpenSearch node, in each context
Dashboards runs it in — a search's script_fields (every search on the index pattern), a terms
aggregation with a script (a visualization's rows), and the script filter a click on a row makes —
over a table of url.path values stored through the real ingest: ids, versions, long segments, deep
paths, empty, trailing slashes, percent-encoding, Unicode digits and hostile text."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.dashboards.definitions import load_dashboards, validate_dashboard
from app.dashboards.opensearch_export import export_objects
from app.dashboards.opensearch_routes import (ROUTE_FIELD, digit_ranges, folded_measure, grouping_field,
                                              route_script, scripted_fields)
from app.events.schema import load_schema
from app.rollups.model import ROUTE_SEGMENT_MAX, ROUTE_SEGMENTS, route

from conftest import store_url_for

SEG = ROUTE_SEGMENT_MAX
PATHS = [
    # ids and versions
    "/backoffice/api/players/p-000123", "/backoffice/api/players/p-000124/notes", "/api/v1/lobby", "/api/v2/games",
    "/api/v10/x", "/api/v100/x", "/api/v1000/x", "/api/V1/x", "/api/v/x", "/api/vv1/x", "/api/v1a/x", "/api/v01/x",
    "/api/1v/x", "/v1", "v1", "/api/v1/games/stardust/launch", "/api/v1/rounds/83731", "/api/v1/tx/0xdeadbeef",
    "/api/v1/sessions/550e8400-e29b-41d4-a716-446655440000", "/api/v1/players/me/balance", "/healthz",
    # segment length: at, just over and far over the limit (code points, not UTF-16 units nor bytes)
    "/a/" + "x" * SEG, "/a/" + "x" * (SEG + 1), "/a/" + "x" * 500 + "/b", "/" + "\u00e9" * SEG, "/" + "\u00e9" * (SEG + 1),
    "/" + "\U0001F600" * SEG, "/" + "\U0001F600" * (SEG + 1), "/" + "e\u0301" * 16, "/" + "e\u0301" * 17,
    # depth: at, around and past the bound; empty segments count
    *("/" + "/".join("abcdefghijklmnop"[:n]) for n in range(ROUTE_SEGMENTS - 2, ROUTE_SEGMENTS + 4)),
    *("/" * n for n in (2, ROUTE_SEGMENTS, ROUTE_SEGMENTS + 1, ROUTE_SEGMENTS + 2, 40)),
    "/" + "/".join(["a"] * 11) + "/p-1", "/" + "/".join(["a"] * 12) + "/p-1", "/" + "/".join(["a"] * 13) + "/p-1",
    "/" + "/".join(["p-1"] * 30), "a/b/c", "a/" * 20,
    # empty, slashes, dots
    "", "/", "/api/", "/api/v1/players/", "/api/v1/players/7/", "/./../x", "/api//v1//7",
    # percent-encoded, query-like, other separators
    "/api/v1/players/p%2D000123", "/api/%E2%82%AC/x", "/api/a%2Fb/c", "/search?q=1&page=2", "/a#frag", "/a;b=1/c",
    "/a b/c d", "/a+b/c", "/a\\b/c\\1", "/a:b@c/d",
    # Unicode: digits Python's str.isdigit knows (Arabic-Indic, Devanagari, superscript, circled,
    # fullwidth, mathematical), numerals it does not (roman, fractions, CJK), letters
    "/caf\u00e9/men\u00fc", "/\u0663\u0664/x", "/\u0967/x", "/x\u00b2/y", "/\u2460/x", "/\uff11/x", "/\U0001D7CE/x",
    "/\u216b/x", "/\u00bd/x", "/\u4e00\u4e8c/x", "/\u0410\u043f\u0438/x", "/\u05d0\u05d1/x", "/\U00011F50/x",
    "/\U0001E4F0/x", "/x\u2070/y",
    # hostile text (NUL is refused at ingest: no event to route)
    "/a'b/c\"d", "/${jndi:ldap://x}/y", "/<script>alert(1)</script>", "/a\u202eb/c", "/a\u200db/c",
    "/a\nb/c\tt", "/\u2028x/\u2029y", "/\ufeffx", "/\U0010FFFF", "/\uffff/x", "*", "/*/*", "/api/*/1",
    # the longest a keyword may be (8,192 code points), over the index's 8,191-unit doc values: read from _source
    "/" + "a" * 8191, "/a/" + "b" * 8189, "/" + "\U0001F600" * 4500, "/p/" + "/".join(["7"] * 3000),
]


def test_the_table_covers_what_it_means_to():
    folded = [route(p) for p in PATHS]
    assert "/backoffice/api/players/*" in folded and "/api/v1/lobby" in folded and "/api/v1000/x" not in folded
    assert any(len(p.encode("utf-16-le")) // 2 > 8191 for p in PATHS) and len(set(PATHS)) == len(PATHS)
    assert {route("/x" + d) for d in ("\u00b2", "\u2460", "\U0001D7CE")} == {"/*"}  # digits to Python, not all to Java
    # (Kawi U+11F50 and Nag Mundari U+1E4F0 are digits from Unicode 15: to the node's Java, not to Python 3.11's)


def test_the_script_is_written_from_model_route_s_constants():
    script = route_script()
    assert f"> {ROUTE_SEGMENT_MAX}" in script and f"piece == {ROUTE_SEGMENTS}" in script
    assert "/v[0-9]{1,3}/" in script and "Character.isDigit" not in script
    ranges = digit_ranges()
    assert all(chr(c).isdigit() for a, b in ranges for c in (a, b)) and ranges[0] == (48, 57)
    assert sum(b - a + 1 for a, b in ranges) == sum(chr(c).isdigit() for c in range(0x110000))


def test_the_index_pattern_declares_the_route_as_osd_saves_a_scripted_field():
    (field,) = scripted_fields()
    assert field == {"name": ROUTE_FIELD, "type": "string", "count": 0, "scripted": True, "script": route_script(),
                     "lang": "painless"}
    assert ROUTE_FIELD not in load_schema().fields and not ROUTE_FIELD.startswith("url.path")
    # OSD (index_patterns.ts isFieldRefreshRequired): a field list where every spec lacks field caps or
    # readFromDocValues is refreshed from the mapping, the scripted fields kept: the mapped fields come too
    assert all(not ("aggregatable" in f and "searchable" in f) or "readFromDocValues" not in f for f in scripted_fields())


def test_the_panels_grouped_by_route_are_the_ones_the_back_office_folds():
    api = next(b for b in load_dashboards() if b.id == "api")
    routed = {p.id for p in api.panels if folded_measure(p)}
    assert routed == {"slowest-routes", "busiest-routes"}
    board = validate_dashboard({"title": "T", "panels": [
        {"id": "a", "title": "A", "kind": "stacked", "by": "url.path"},
        {"id": "b", "title": "B", "kind": "percentiles", "field": "payment.amount", "by": "url.path"},
        {"id": "c", "title": "C", "kind": "percentiles", "field": "http.duration", "by": "service.name"},
        {"id": "d", "title": "D", "kind": "top", "by": "service.name"},
        {"id": "e", "title": "E", "kind": "status", "by": "url.path", "status_field": "http.response.status_code"}]},
        "t")
    assert [grouping_field(p, p.by) for p in board.panels] == ["url.path", "url.path", "service.name", "service.name",
                                                                 "url.path"]
    objects = export_objects(next(b for b in load_dashboards() if b.id == "api"))
    fields = {o["id"].rsplit(".", 1)[-1]: [a["params"].get("field") for a in json.loads(o["attributes"]["visState"])["aggs"]
                                           if a["type"] == "terms"]
              for o in objects if o["type"] == "visualization"}
    assert fields["slowest-routes"] == fields["busiest-routes"] == [ROUTE_FIELD]
    assert fields["status-codes"] == ["http.response.status_code"]


# -- on the node ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def table(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("osd-routes")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for("opensearch", data_dir, request)})
    services = app.extensions["platlogs"]
    base = int(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc).timestamp() * 1000)
    events = [{"@timestamp": base + i, "message": f"GET {i}", "event": {"component": "api", "type": "api_request"},
               "http": {"request": {"method": "GET", "id": f"req-{i}"}, "response": {"status_code": 200},
                        "duration": i},
               "url": {"path": path}} for i, path in enumerate(PATHS)]
    events.append({"@timestamp": base, "message": "no path", "event": {"component": "api", "type": "api_request"}})
    report = services.ingestor.ingest([(i, orjson.dumps(e)) for i, e in enumerate(events)], position="line")
    assert report.accepted == len(events), report
    store = services.store
    store.client.indices.refresh(index=store.alias)
    yield store
    services.close()


def _script() -> dict:
    return {"source": route_script(), "lang": "painless"}


def test_script_fields_give_model_route_s_answer_for_every_path(table):
    """What Dashboards adds to every search on the index pattern (search_source flatten: script_fields)."""
    found = table.client.search(index=table.alias, body={
        "size": len(PATHS) + 1, "query": {"match_all": {}}, "_source": ["url.path", "http.request.id"],
        "script_fields": {ROUTE_FIELD: {"script": _script()}}})
    hits = found["hits"]["hits"]
    assert len(hits) == len(PATHS) + 1
    stored = [h for h in hits if "url" in h["_source"]]
    assert sorted(h["_source"]["url"]["path"] for h in stored) == sorted(PATHS), "the ingest changed a path"
    wrong = [(h["_source"]["url"]["path"][:80], h["fields"][ROUTE_FIELD][0][:80], route(h["_source"]["url"]["path"])[:80])
             for h in stored if h["fields"][ROUTE_FIELD] != [route(h["_source"]["url"]["path"])]]
    assert not wrong
    (pathless,) = [h for h in hits if "url" not in h["_source"]]
    assert pathless["fields"][ROUTE_FIELD] == [None]


def test_a_terms_aggregation_on_the_script_counts_as_model_route(table):
    """A visualization's rows (terms with a script and value_type, as OSD's terms agg writes it)."""
    expected: dict[str, int] = {}
    for path in PATHS:
        expected[route(path)] = expected.get(route(path), 0) + 1
    found = table.client.search(index=table.alias, body={
        "size": 0, "query": {"match_all": {}},
        "aggs": {"r": {"terms": {"script": _script(), "value_type": "string", "size": 1000, "order": {"_count": "desc"}},
                       "aggs": {"m": {"max": {"field": "http.duration"}}}}}})
    buckets = found["aggregations"]["r"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in buckets} == expected     # (the event without a path: no row)
    assert found["aggregations"]["r"]["sum_other_doc_count"] == 0


def osd_phrase_filter(field: dict, value) -> dict:
    """The filter Dashboards makes of a click on a scripted field's value (phrase_filter.ts,
    buildInlineScriptForPhraseFilter: the source wrapped in a lambda)."""
    source = ("boolean compare(Supplier s, def v) {return s.get() == v;}"
              f"compare(() -> {{ {field['script']} }}, params.value);")
    return {"script": {"script": {"source": source, "lang": field["lang"], "params": {"value": value}}}}


def test_a_click_on_a_route_filters_its_events_but_those_with_no_doc_value(table):
    """A filter script cannot read _source: a path over the keyword's 8,191 UTF-16 units (ignore_above)
    is in its route's row (the aggregation reads _source then) but not in the click's filter."""
    (field,) = scripted_fields()
    routes: dict[str, int] = {}
    unindexed: dict[str, int] = {}
    for path in PATHS:
        routes[route(path)] = routes.get(route(path), 0) + 1
        if len(path.encode("utf-16-le")) // 2 > 8191:
            unindexed[route(path)] = unindexed.get(route(path), 0) + 1
    assert unindexed
    for value in ("/backoffice/api/players/*", "/*", "", "/api/v1/lobby", route(PATHS[-1]), route("/\u0663\u0664/x")):
        found = table.client.count(index=table.alias, body={"query": {"bool": {"filter": [osd_phrase_filter(field, value)]}}})
        assert found["count"] == routes[value] - unindexed.get(value, 0), value
