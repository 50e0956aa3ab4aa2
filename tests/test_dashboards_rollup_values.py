"""Percentiles of payment.amount (the payments dashboard's amounts panel) from the rollups' value
sketches against brute force over the raw events, on every backend: over ranges whose ends fall
inside a minute, grouped by currency or not, narrowed by the measure's qualifiers; a backend whose
rollups keep no value sketches (OpenSearch) and panels the sketches cannot answer read events as
before; sketches that disagree with the store's count are not used."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.dashboards.definitions import load_dashboards, validate_panel
from app.dashboards.panels import panel_data
from app.dashboards.rollup_values import eligible
from app.demo.generator import generate
from app.events.convert import format_ts
from app.query import parse
from app.query.timeexpr import parse_time
from app.events.schema import get_path
from app.search.window import parse_window

from conftest import BACKENDS, all_events, store_url_for
from test_dashboards_counts import close, nearest_rank
from test_rollups import brute_route
from test_search import matches

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
END_MS = int(END.timestamp() * 1000)
PAYMENTS = "event.type:payment AND event.component:user_activity AND payment.status:completed"
RANGES = [(END_MS - 36 * 3600_000 + 17_123, END_MS - 4_567),      # both ends inside a minute
          (END_MS - 2 * 86_400_000, END_MS)]                       # whole minutes, two days


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("rollup-values")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(generate(6000, days=2, seed=7, end=END))]
    assert services.ingestor.ingest(lines, position="line").accepted == 6000
    yield services.store, all_events(services.store), request.param
    services.close()


def panel(query=PAYMENTS, by="payment.currency", field="payment.amount", **more):
    return validate_panel({"id": "p", "title": "P", "kind": "percentiles", "query": query,
                           "field": field, **({"by": by} if by else {}), **more}, 1)


def run(store, p, start_ms, end_ms):
    window = parse_window({"from": format_ts(start_ms), "to": format_ts(end_ms)}, end_ms)
    return panel_data(store, lambda r: r, window, p, sees_personal=True)


def brute(events, p, start_ms, end_ms):
    node = parse(p.query) if p.query else None
    mine = [e for e in events if start_ms <= parse_time(e["@timestamp"], 0) < end_ms
            and (node is None or matches(node, e, every_value=True))
            and isinstance(get_path(e, p.field), (int, float))]
    groups: dict = {}
    for e in mine:
        key = get_path(e, "payment.currency" if p.field == "payment.amount" else "url.path")
        key = brute_route(key) if p.field == "http.duration" else key
        groups.setdefault(key, []).append(float(get_path(e, p.field)))
    return sorted(float(get_path(e, p.field)) for e in mine), {k: sorted(v) for k, v in groups.items()}


MEASURES = {"payment.amount": (PAYMENTS, "payment.currency"), "http.duration": ("event.component:api", "url.path")}


@pytest.mark.parametrize("field", MEASURES)
def test_the_shipped_panels_qualify(field):
    shipped = [p for d in load_dashboards() for p in d.panels if p.kind == "percentiles" and p.field == field]
    assert shipped and all(eligible(p) is not None for p in shipped)


@pytest.mark.parametrize("field", MEASURES)
@pytest.mark.parametrize("span", range(len(RANGES)))
@pytest.mark.parametrize("grouped", [True, False])
def test_percentiles_equal_brute_force_within_the_sketch_accuracy(world, field, span, grouped):
    store, events, backend = world
    start_ms, end_ms = RANGES[span]
    query, by = MEASURES[field]
    by = by if grouped else None
    p = panel(query=query, by=by, field=field, percentiles=[50, 90, 99, 100], limit=50)
    out = run(store, p, start_ms, end_ms)
    d = out["data"]
    overall, groups = brute(events, p, start_ms, end_ms)
    assert len(overall) > 10, "the demo has completed payments in this range"
    if by and field == "http.duration":     # routes on every backend
        assert any("grouped by route" in n for n in out["notes"])
        assert all(r["link"] is None for r in d["rows"] if "*" in r["value"])
        assert any(r["link"] for r in d["rows"] if "*" not in r["value"])
    assert out["error"] is None and d["source"] == "rollups" and d["exact"]
    assert any("rollups' sketches" in n and "within 1 %" in n for n in out["notes"]), out["notes"]
    assert d["overall"]["count"] == len(overall) == d["read"]
    assert close(d["overall"]["values"], [nearest_rank(overall, q) for q in p.percentiles])
    assert close([d["overall"]["max"]], [overall[-1]])
    if by:
        assert {r["value"] for r in d["rows"]} == set(groups) and d["groups"] == len(groups)
        for row in d["rows"]:
            assert row["count"] == len(groups[row["value"]])
            assert close(row["values"], [nearest_rank(groups[row["value"]], q) for q in p.percentiles]), row["value"]
        lasts = [r["values"][-1] for r in d["rows"]]
        assert lasts == sorted(lasts, reverse=True)


def test_narrowed_by_qualifiers_and_the_panels_the_sketches_cannot_answer(world):
    store, events, backend = world
    start_ms, end_ms = RANGES[0]
    p = panel(query="event.type:payment AND payment.status:(completed OR declined)")
    assert eligible(p) == {"event.type": {"payment"}, "payment.status": {"completed", "declined"}}
    d = run(store, p, start_ms, end_ms)["data"]
    overall, _ = brute(events, p, start_ms, end_ms)
    assert d.get("source") == "rollups"
    assert d["overall"]["count"] == len(overall)
    assert close(d["overall"]["values"], [nearest_rank(overall, q) for q in p.percentiles])
    for other in (panel(query=PAYMENTS + " AND payment.method:card"),     # not a qualifier
                  panel(by="payment.method"), panel(query="payment.status:comp*")):
        assert eligible(other) is None
        d = run(store, other, start_ms, end_ms)["data"]
        assert "source" not in d
        overall, _ = brute(events, other, start_ms, end_ms)
        assert d["overall"]["values"] == [nearest_rank(overall, q) for q in other.percentiles]   # exact, as before


def test_sketches_that_disagree_with_the_store_are_not_used(world, monkeypatch):
    store, events, backend = world
    start_ms, end_ms = RANGES[1]
    real = store.rollups.values

    def lose_one(*args, **kwargs):       # a batch whose rollups were lost
        out = real(*args, **kwargs)
        buckets = next(iter(out.values()))
        buckets[next(iter(buckets))] -= 1
        return out
    monkeypatch.setattr(store.rollups, "values", lose_one)
    out = run(store, panel(), start_ms, end_ms)
    assert "source" not in out["data"] and any("disagree" in n for n in out["notes"])
    overall, _ = brute(events, panel(), start_ms, end_ms)
    assert out["data"]["overall"]["values"] == [nearest_rank(overall, q) for q in panel().percentiles]
