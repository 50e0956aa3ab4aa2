"""The dashboards as OpenSearch Dashboards saved objects (app/dashboards/opensearch_export.py):
the NDJSON's structure and references, the committed dashboards/opensearch/ files being what the
command writes now, and every visualization's search — built as OSD builds it from the saved
object (search-source filters, the time range, visState aggregations) — run on the real
OpenSearch node over 3,000 demo events, its counts equal to the back office's own panels. The
index pattern's scripted route (opensearch_routes.py) goes into each search as OSD sends it
(script_fields; a terms aggregation with its script and value_type), and the panels the back
office groups by route (busiest, slowest routes) have OSD rows equal to a brute-force fold of the
events by model.route. The script itself against a table of paths: test_dashboards_export_routes.py."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.dashboards.definitions import DashboardError, load_dashboards, validate_dashboard
from app.dashboards.opensearch_export import GRID_COLUMNS, default_out_dir, export_objects, exports
from app.dashboards.opensearch_routes import ROUTE_FIELD, folded_measure, scripted_fields
from app.dashboards.rollup_values import ROUTE_NOTE
from app.rollups.model import route
from app.dashboards.panels import dashboard_data, window_for
from app.demo.generator import generate
from app.events.convert import format_ts
from app.events.schema import get_path
from app.query import parse
from app.query.dsl import DSLCompiler

from conftest import store_url_for

BOARDS = load_dashboards()
END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
FROM, TO = END - timedelta(days=2), END + timedelta(minutes=1)    # cuts through the 3 days of events


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.split("\n") if line]


def by_panel(objects: list[dict], board) -> dict:
    return {p.id: next(o for o in objects if o["id"].endswith(f".{board.id}.{p.id}")) for p in board.panels}


# -- structure --------------------------------------------------------------------------------------

@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
def test_every_line_is_a_saved_object_and_every_reference_resolves(board):
    text = exports([board])[f"{board.id}.ndjson"]
    assert text.endswith("\n") and "\n\n" not in text
    objects = lines(text)
    for obj in objects:
        assert {"type", "id", "attributes", "references"} <= set(obj), obj
        assert obj["type"] in ("index-pattern", "visualization", "search", "dashboard")
        assert isinstance(obj["attributes"].get("title"), str) and obj["attributes"]["title"]
    known = {(o["type"], o["id"]) for o in objects}
    assert len(known) == len(objects), "an id is used twice"
    for obj in objects:
        names = [r["name"] for r in obj["references"]]
        assert len(set(names)) == len(names), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in known, (obj["id"], ref)
    pattern = next(o for o in objects if o["type"] == "index-pattern")
    assert pattern["attributes"] == {"title": "platlogs-events", "timeFieldName": "@timestamp",
                                     "fields": json.dumps(scripted_fields(), separators=(",", ":"))}
    assert [o["type"] for o in objects].count("dashboard") == 1 and objects[-1]["type"] == "dashboard"


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
def test_the_dashboard_places_each_panel_by_reference(board):
    objects = export_objects(board)
    dashboard = objects[-1]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    assert len(panels) == len(board.panels) == len(refs)
    shown = by_panel(objects, board)
    cells = set()
    for panel, spec in zip(panels, board.panels):
        ref = refs[panel["panelRefName"]]
        assert (ref["type"], ref["id"]) == (shown[spec.id]["type"], shown[spec.id]["id"])
        assert ref["type"] == ("search" if spec.kind == "events" else "visualization")
        grid = panel["gridData"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_COLUMNS and grid["i"] == panel["panelIndex"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, f"{spec.id} overlaps another panel"
        cells |= mine
    assert dashboard["attributes"]["timeFrom"] == board.range and dashboard["attributes"]["timeRestore"]


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
def test_each_panel_filters_with_the_dsl_the_back_office_runs(board):
    objects = by_panel(export_objects(board), board)
    for panel in board.panels:
        obj = objects[panel.id]
        source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        refs = {r["name"]: r for r in obj["references"]}
        assert refs[source["indexRefName"]]["type"] == "index-pattern"
        for f in source["filter"]:
            assert refs[f["meta"]["indexRefName"]]["type"] == "index-pattern"
            assert "query_string" not in json.dumps(f)
        dsl = [f["query"] for f in source["filter"]]
        if panel.kind == "number" and panel.ratio_of is not None:    # both counts are the split's
            filters = json.loads(obj["attributes"]["visState"])["aggs"][1]["params"]["filters"]
            dsl = [f["input"]["query"] for f in filters]
            assert dsl == [DSLCompiler(0).compile(parse(q)) for q in (panel.query, panel.ratio_of)]
        elif panel.query:
            assert dsl == [DSLCompiler(0).compile(parse(panel.query))], panel.id
        else:
            assert dsl == []


def test_the_index_pattern_is_the_same_object_in_every_file():
    """Importing any one file (overwrite=true) replaces the index pattern: each carries the route."""
    patterns = {text.split("\n", 1)[0] for text in exports(BOARDS).values()}
    assert len(patterns) == 1
    fields = json.loads(json.loads(patterns.pop())["attributes"]["fields"])
    assert [f["name"] for f in fields] == [ROUTE_FIELD] and fields[0]["scripted"]


def test_ids_are_stable_and_named_after_the_dashboard_and_panel():
    board = next(b for b in BOARDS if b.id == "payments")
    first, again = export_objects(board), export_objects(board)
    assert first == again
    assert [o["id"] for o in first] == ["platlogs.events", *[f"platlogs.payments.{p.id}" for p in board.panels],
                                        "platlogs.payments"]
    assert [o["id"] for o in export_objects(board, "shop")][:2] == ["shop.events", "shop.payments.payments"]


def test_hostile_text_stays_inside_its_line_and_its_value():
    title = 'Pay\u2028"ments"\n</script><b>\u00e9\U0001F600'
    board = validate_dashboard({"title": "T", "description": "line\u2029sep", "panels": [
        {"id": "p", "title": title[:120], "kind": "top", "query": 'message:"a \\"b\\" \u2028 c"', "by": "actor.id"}]},
        "t")
    text = exports([board])["t.ndjson"]
    assert text.isascii() and text.count("\n") == 3
    objects = lines(text)
    assert objects[1]["attributes"]["title"] == board.panels[0].title
    assert json.loads(objects[1]["attributes"]["visState"])["title"] == board.panels[0].title
    source = json.loads(objects[1]["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["filter"][0]["meta"]["alias"] == board.panels[0].query


def test_a_query_with_a_relative_time_is_refused_naming_the_panel():
    board = validate_dashboard({"title": "T", "panels": [
        {"id": "recent", "title": "Recent", "kind": "number", "query": "@timestamp:>=now-1h"}]}, "t")
    with pytest.raises(DashboardError) as caught:
        export_objects(board)
    assert caught.value.panel == "recent" and "relative time" in str(caught.value)


def test_the_committed_files_are_what_the_command_writes_now(tmp_path):
    committed = default_out_dir()
    assert sorted(p.name for p in committed.glob("*.ndjson")) == sorted(exports(BOARDS)), \
        "dashboards/opensearch/ is stale: run `platlogs dashboards export --opensearch-dashboards`"
    result = CliRunner().invoke(main, ["dashboards", "export", "--opensearch-dashboards", "--out", str(tmp_path)],
                                env={"PLATLOGS_STORE": ""})
    assert result.exit_code == 0, result.output
    for path in committed.glob("*.ndjson"):
        assert (tmp_path / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), \
            f"{path} is stale: run `platlogs dashboards export --opensearch-dashboards`"


def test_the_command_takes_the_prefix_from_the_store_url_or_the_option(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["dashboards", "export", "--opensearch-dashboards", "--out", str(tmp_path / "a")],
                           env={"PLATLOGS_STORE": "opensearch://node:9200?prefix=shop"})
    assert result.exit_code == 0, result.output
    assert lines((tmp_path / "a" / "api.ndjson").read_text())[0]["attributes"]["title"] == "shop-events"
    result = runner.invoke(main, ["dashboards", "export", "--opensearch-dashboards", "--out", str(tmp_path / "b"),
                                  "--prefix", "games"])
    assert lines((tmp_path / "b" / "api.ndjson").read_text())[0]["id"] == "games.events"
    result = runner.invoke(main, ["dashboards", "export", "--opensearch-dashboards", "--prefix", "Bad-Prefix"])
    assert result.exit_code == 2 and "--prefix" in result.output
    assert runner.invoke(main, ["dashboards", "export"]).exit_code == 2     # the target is required


def test_the_compose_stack_imports_these_files_at_start():
    import yaml
    root = Path(__file__).resolve().parents[1]
    service = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]["dashboards-import"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in service["volumes"]}
    assert (root / "dashboards/opensearch").resolve() == default_out_dir().resolve() and "./dashboards/opensearch" in mounts
    assert mounts["./scripts/osd-import"] == service["entrypoint"][-1]
    assert service["environment"]["OSD_URL"] == "http://dashboards:5601" and "dashboards" in service["depends_on"]
    assert service["secrets"] == ["opensearch_admin_password"] and service["restart"] == "no"
    script = (root / "scripts/osd-import").read_text()
    assert "/api/saved_objects/_import?overwrite=true" in script and "osd-xsrf: true" in script
    assert 'OSD_OBJECTS_DIR:-{}'.format(mounts["./dashboards/opensearch"]) in script


# -- the searches OSD sends, on the real node ---------------------------------------------------------

def _bool_of(query: dict) -> dict:
    """What OSD's buildOpenSearchQuery makes of one query (a DSL object passes through; '' is all)."""
    dsl = query["query"] if query["query"] != "" else {"match_all": {}}
    return {"bool": {"must": [dsl], "filter": [], "should": [], "must_not": []}}


def _field(name: str, fields: dict) -> dict:
    """An aggregation's field as OSD writes it (param_types/field.ts): a scripted field's source
    and language in place of the field."""
    spec = fields.get(name)
    if spec and spec.get("scripted"):
        return {"script": {"source": spec["script"], "lang": spec["lang"]}}
    return {"field": name}


def _agg_dsl(agg: dict, interval: str, fields: dict) -> dict:
    p = agg["params"]
    kind = agg["type"]
    if kind == "terms":
        order = {"_count": "desc"} if p["orderBy"] == "1" else {p["orderBy"]: p["order"]}
        field = _field(p["field"], fields)
        if "script" in field:     # terms.ts orderAgg write: OpenSearch would read a script's values as text
            field["value_type"] = "float" if fields[p["field"]]["type"] == "number" else fields[p["field"]]["type"]
        return {"terms": {**field, "size": p["size"], "order": order}}
    if kind == "filters":
        return {"filters": {"filters": {f["label"]: _bool_of(f["input"]) for f in p["filters"]}}}
    if kind == "date_histogram":
        return {"date_histogram": {**_field(p["field"], fields), "fixed_interval": interval, "time_zone": "UTC",
                                   "min_doc_count": p["min_doc_count"]}}
    if kind == "percentiles":
        return {"percentiles": {**_field(p["field"], fields), "percents": p["percents"]}}
    if kind == "max":
        return {"max": _field(p["field"], fields)}
    if kind == "top_hits":
        assert "field" in _field(p["field"], fields), "top_hits of a scripted field: not translated here"
        return {"top_hits": {"size": p["size"], "sort": [{p["sortField"]: {"order": p["sortOrder"]}}],
                             "_source": {"includes": [p["field"]]}}}
    raise AssertionError(f"an aggregation this test does not translate: {kind}")


def pattern_fields(pattern: dict) -> dict:
    """The index pattern's saved field specs by name (the scripted ones: the mapped ones OSD fetches)."""
    return {f["name"]: f for f in json.loads(pattern["attributes"].get("fields", "[]"))}


def osd_request(obj: dict, pattern: dict, interval: str = "1h") -> dict:
    """The _search body OSD sends for a saved visualization (or saved search) over FROM..TO, on
    the index pattern `pattern` — whose scripted fields go into every search (search_source.ts
    flatten: getComputedFields' script_fields, evaluated for each hit returned)."""
    fields = pattern_fields(pattern)
    source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    filters = [f.get("query", {k: v for k, v in f.items() if k not in ("meta", "$state")})
               for f in source["filter"] if not f["meta"].get("disabled")]
    time_range = {"range": {"@timestamp": {"gte": FROM.isoformat(), "lte": TO.isoformat(),
                                           "format": "strict_date_optional_time"}}}
    scripted = {name: {"script": {"source": f["script"], "lang": f["lang"]}} for name, f in fields.items() if f.get("scripted")}
    body = {"query": {"bool": {"must": [], "filter": [{"match_all": {}}, *filters, time_range], "should": [],
                               "must_not": []}}, "track_total_hits": True, "stored_fields": ["*"],
            "script_fields": scripted, "_source": {"excludes": []}}   # (getSourceFiltering: no source filters)
    if obj["type"] == "search":
        return {**body, "size": 500, "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "boolean"}}]}
    vis = json.loads(obj["attributes"]["visState"])
    metrics = {a["id"]: _agg_dsl(a, interval, fields) for a in vis["aggs"]
               if a["schema"] == "metric" and a["type"] != "count"}
    buckets = [a for a in vis["aggs"] if a["schema"] != "metric"]
    aggs = metrics
    for agg in reversed(buckets):      # the first bucket aggregation outermost, metrics innermost
        aggs = {agg["id"]: {**_agg_dsl(agg, interval, fields), **({"aggs": aggs} if aggs else {})}}
    return {**body, "size": 0, "aggs": aggs}


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("osd-export")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for("opensearch", data_dir, request)})
    services = app.extensions["platlogs"]
    events = [(i, orjson.dumps(e)) for i, e in enumerate(generate(3000, days=3, seed=41, end=END))]
    assert services.ingestor.ingest(events, position="line").accepted == 3000
    store = services.store
    store.client.indices.refresh(index=store.alias)
    yield store
    services.close()


def _buckets(response: dict, agg_id: str) -> list[dict]:
    return response["aggregations"][agg_id]["buckets"]


def _filter_counts(response: dict, agg_id: str) -> dict:
    return {label: b["doc_count"] for label, b in _buckets(response, agg_id).items()}


def _same_top(buckets: list[dict], rows: list[dict]) -> None:
    """OSD's terms rows are the back office's top rows (ties at the cut may list another value)."""
    assert [b["doc_count"] for b in buckets] == [r["count"] for r in rows]
    mine = {str(r["value"]).lower(): r["count"] for r in rows}
    for b in buckets:
        key = str(b.get("key_as_string", b["key"])).lower()
        if key in mine:
            assert b["doc_count"] == mine[key], key


def routes_of(store, panel, measure: str | None = None) -> dict[str, tuple[int, float | None]]:
    """{route: (events, the highest `measure`)} of the panel's events over FROM..TO, by brute force:
    every event read back and its url.path folded by model.route (what the back office groups by)."""
    dsl = DSLCompiler(0).compile(parse(panel.query)) if panel.query else {"match_all": {}}
    time_range = {"range": {"@timestamp": {"gte": FROM.isoformat(), "lte": TO.isoformat()}}}
    found = store.client.search(index=store.alias, body={"size": 10_000, "query": {"bool": {"filter": [dsl, time_range]}},
                                                          "_source": ["url.path", measure or "url.path"]})
    assert found["hits"]["total"]["value"] < 10_000
    out: dict[str, tuple[int, float | None]] = {}
    for hit in found["hits"]["hits"]:
        path = (hit["_source"].get("url") or {}).get("path")
        if path is None:
            continue
        n, top = out.get(route(path), (0, None))
        value = get_path(hit["_source"], measure) if measure else None
        out[route(path)] = (n + 1, top if value is None or (top is not None and top >= value) else float(value))
    return out


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.id)
def test_every_visualization_runs_on_opensearch_and_counts_as_the_back_office(world, board):
    store = world
    exported = export_objects(board, store.prefix)
    objects, pattern = by_panel(exported, board), exported[0]
    window = window_for(board, {"from": format_ts(int(FROM.timestamp() * 1000)),
                                "to": format_ts(int(TO.timestamp() * 1000))})
    app = {p["id"]: p for p in dashboard_data(store, lambda r: r, window, board, sees_personal=True)["panels"]}
    counted = 0
    counted_routes: set[str] = set()
    for panel in board.panels:
        mine = app[panel.id]
        # grouped by route in OSD exactly where the back office says it groups by route
        route_note = ROUTE_NOTE.format(by=panel.by)
        assert (route_note in mine["notes"]) == (folded_measure(panel) is not None), (panel.id, mine["notes"])
        notes = [n for n in mine["notes"] if n != route_note]
        sketched = panel.kind == "percentiles" and (mine["data"] or {}).get("source") == "rollups"  # "… within 1 % …"
        assert mine["error"] is None and len(notes) == sketched, mine
        data = mine["data"]
        body = osd_request(objects[panel.id], pattern)
        response = store.client.search(index=store.alias, body=body)   # a refused search raises here
        assert not response.get("timed_out") and response["_shards"]["failed"] == 0, panel.id
        total = response["hits"]["total"]["value"]
        if panel.kind == "number" and panel.ratio_of is None:
            assert total == data["count"], panel.id
            counted += total
        elif panel.kind == "number":
            counts = _filter_counts(response, "2")
            assert counts == {panel.title: data["count"], f"of: {panel.ratio_of or 'every event'}": data["of"]}
            counted += data["of"]
        elif panel.kind == "top":
            assert total == data["total"]
            _same_top(_buckets(response, "2"), data["rows"])
            if folded_measure(panel):     # busiest routes: every row is its route's count of the events
                brute = {key: n for key, (n, _) in routes_of(store, panel).items()}
                assert {b["key"]: b["doc_count"] for b in _buckets(response, "2")} == \
                    {r["value"]: brute[r["value"]] for r in data["rows"]}, panel.id
                assert [n for _, n in sorted(brute.items(), key=lambda kv: -kv[1])[:panel.limit]] == \
                    [b["doc_count"] for b in _buckets(response, "2")]
                counted_routes.add(panel.id)
        elif panel.kind == "timeseries":
            if "3" in response["aggregations"]["2"]["buckets"][0]:
                sums = {s.label: sum(b["3"]["buckets"][s.label]["doc_count"] for b in _buckets(response, "2"))
                        for s in panel.series}
            else:
                sums = {panel.series[0].label: sum(b["doc_count"] for b in _buckets(response, "2"))}
            assert sums == {s["label"]: s["total"] for s in data["series"]}, panel.id
        elif panel.kind == "stacked":
            assert total == data["total"]
            per_value: dict = {}
            for bucket in _buckets(response, "2"):
                for b in bucket["3"]["buckets"]:
                    per_value[str(b["key"]).lower()] = per_value.get(str(b["key"]).lower(), 0) + b["doc_count"]
            for series in data["series"]:
                if series["label"] != "other" and series["label"].lower() in per_value:
                    assert per_value[series["label"].lower()] == series["total"], (panel.id, series["label"])
        elif panel.kind == "percentiles":
            maxima = {str(b["key"]): b["2"]["value"] for b in _buckets(response, "3")}
            # (integration.duration comes from the rollups' sketches: within their 1 %)
            same = (lambda a, b: abs(a - b) <= 0.01 * abs(b) + 1e-3) if data.get("source") == "rollups" \
                else (lambda a, b: a == b)
            assert same(data["overall"]["max"], max(maxima.values())), panel.id
            for row in data["rows"]:
                if str(row["value"]) in maxima:
                    assert same(row["max"], maxima[str(row["value"])]), (panel.id, row["value"])
            if folded_measure(panel):     # slowest routes: OSD's rows and the back office's are routes of the events
                brute = routes_of(store, panel, panel.field)
                assert {b["key"]: (b["doc_count"], b["2"]["value"]) for b in _buckets(response, "3")} == \
                    dict(sorted(brute.items(), key=lambda kv: -kv[1][1])[:panel.limit]), panel.id
                assert set(maxima) <= set(brute) and len(brute) > panel.limit >= len(maxima)
                for row in data["rows"]:
                    assert row["count"] == brute[row["value"]][0] and same(row["max"], brute[row["value"]][1]), row
                assert data["groups"] == len(brute)
                counted_routes.add(panel.id)
        elif panel.kind == "status":
            cells = {str(c["value"]): c for c in data["cells"]}
            assert total == data["total"]
            buckets = _buckets(response, "4")
            # (a panel with `recent` judges its cells over the newest part: the range's figures beside them)
            assert [b["doc_count"] for b in buckets] == sorted((c["range_count"] for c in data["cells"]), reverse=True)
            for b in buckets:
                cell = cells[str(b["key"])]
                split = {label: x["doc_count"] for label, x in b["5"]["buckets"].items()}
                assert split == {"failures": cell["range_failures"], "all": cell["range_count"]}, b["key"]
                assert b["5"]["buckets"]["all"]["3"]["value_as_string"].startswith(cell["latest_at"][:19])
        elif panel.kind == "events":
            assert total == data["total"], panel.id
            newest = [h["_source"]["@timestamp"] for h in response["hits"]["hits"][:panel.limit]]
            for h in response["hits"]["hits"]:    # the route beside each event in Discover (script_fields)
                path = (h["_source"].get("url") or {}).get("path")
                assert h["fields"][ROUTE_FIELD] == [None if path is None else route(path)], h["_id"]
            assert newest == [row["cells"][panel.columns.index("@timestamp")] for row in data["rows"]]
    assert counted > 0, "the demo events should fill the dashboard's numbers"
    assert counted_routes == {p.id for p in board.panels if folded_measure(p)}
