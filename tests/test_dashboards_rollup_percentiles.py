"""Percentiles of integration.duration from the rollups' sketches against brute force, on every
backend (tantivy and OpenSearch included): over ranges whose ends fall inside a minute, grouped
by provider or not, narrowed by provider; panels the rollups cannot answer read events as before;
rollups that disagree with the store's count are not used."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.dashboards.definitions import validate_panel
from app.dashboards.panels import panel_data
from app.dashboards.rollup_percentiles import eligible
from app.demo.generator import generate
from app.events.convert import format_ts
from app.query import parse
from app.query.timeexpr import parse_time
from app.search.window import parse_window
from app.events.schema import get_path

from conftest import BACKENDS, all_events, store_url_for
from test_dashboards_counts import close, nearest_rank
from test_search import matches

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("rollup-percentiles")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(generate(4000, days=2, seed=5, end=END))]
    assert services.ingestor.ingest(lines, position="line").accepted == 4000
    yield services.store, all_events(services.store)
    services.close()


def panel(query="event.component:integration", by="integration.provider", **more):
    return validate_panel({"id": "p", "title": "P", "kind": "percentiles", "query": query,
                           "field": "integration.duration", **({"by": by} if by else {}), **more}, 1)


def run(store, p, start_ms, end_ms, limit=10_000):
    window = parse_window({"from": format_ts(start_ms), "to": format_ts(end_ms)}, end_ms)
    return panel_data(store, lambda r: r, window, p, sees_personal=True)


def brute(events, p, start_ms, end_ms):
    node = parse(p.query)
    mine = [e for e in events if start_ms <= parse_time(e["@timestamp"], 0) < end_ms
            and matches(node, e, every_value=True) and isinstance(get_path(e, p.field), (int, float))]
    groups: dict = {}
    for e in mine:
        groups.setdefault(get_path(e, "integration.provider"), []).append(float(get_path(e, p.field)))
    return sorted(float(get_path(e, p.field)) for e in mine), {k: sorted(v) for k, v in groups.items()}


END_MS = int(END.timestamp() * 1000)
RANGES = [(END_MS - 36 * 3600_000 + 17_123, END_MS - 4_567),      # both ends inside a minute: 36 h
          (END_MS - 2 * 86_400_000, END_MS),                       # whole minutes, two days
          (END_MS - 12 * 3600_000 - 59_999, END_MS - 8 * 3600_000 + 1)]


@pytest.mark.parametrize("span", range(len(RANGES)))
@pytest.mark.parametrize("by", ["integration.provider", None])
def test_rollup_percentiles_equal_brute_force_within_the_sketch_accuracy(world, span, by):
    store, events = world
    start_ms, end_ms = RANGES[span]
    p = panel(by=by, percentiles=[50, 90, 95, 99, 100], limit=50)
    out = run(store, p, start_ms, end_ms)
    d = out["data"]
    assert out["error"] is None and d["source"] == "rollups" and d["exact"]
    assert any("rollups' latency sketches" in n and "within 1 %" in n for n in out["notes"]), out["notes"]
    overall, groups = brute(events, p, start_ms, end_ms)
    assert overall, "the demo has integration calls in this range"
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


def test_narrowed_by_provider_and_the_panels_the_rollups_cannot_answer(world):
    store, events = world
    start_ms, end_ms = RANGES[0]
    providers = sorted({get_path(e, "integration.provider") for e in events if get_path(e, "integration.provider")})
    two = providers[:2]
    query = f'event.component:integration AND integration.provider:("{two[0]}" OR "{two[1]}")'
    p = panel(query=query)
    d = run(store, p, start_ms, end_ms)["data"]
    overall, groups = brute(events, p, start_ms, end_ms)
    assert d["source"] == "rollups" and {r["value"] for r in d["rows"]} == set(two) == set(groups)
    assert close(d["overall"]["values"], [nearest_rank(overall, q) for q in p.percentiles])
    for other in (panel(query="event.component:integration AND integration.status:ok"),   # not a provider filter
                  panel(by="integration.kind"), panel(query="integration.provider:*")):
        assert not eligible(other)[0]
        d = run(store, other, start_ms, end_ms)["data"]
        assert "source" not in d
        overall, _ = brute(events, other, start_ms, end_ms)
        assert d["overall"]["values"] == [nearest_rank(overall, q) for q in other.percentiles]   # exact, as before


def test_rollups_that_disagree_with_the_store_are_not_used(world, monkeypatch):
    store, events = world
    start_ms, end_ms = RANGES[1]
    real = store.rollups.providers

    def lose_one(*args, **kwargs):       # a batch whose rollups were lost
        rows = real(*args, **kwargs)
        for row in rows:
            if row.latency:
                k = next(iter(row.latency))
                row.latency[k] -= 1
                break
        return rows
    monkeypatch.setattr(store.rollups, "providers", lose_one)
    out = run(store, panel(), start_ms, end_ms)
    assert "source" not in out["data"] and any("disagree" in n for n in out["notes"])
    overall, _ = brute(events, panel(), start_ms, end_ms)
    assert out["data"]["overall"]["values"] == [nearest_rank(overall, q) for q in panel().percentiles]


def test_a_short_range_inside_two_minutes_reads_events(world):
    store, events = world
    start_ms = END_MS - 10 * 3600_000 + 10_000
    d = run(store, panel(), start_ms, start_ms + 50_000)["data"]
    assert "source" not in d and math.isfinite(d["total"])
