"""Every panel of every shipped dashboard against brute force, on every backend: 3,000 demo events
over 3 days, and the same events read back and filtered in Python by the naive query meaning of
tests/test_search.py. Numbers, shares, histogram buckets, stacked series, top-N rows, percentiles,
status cells and event lists must equal what the brute force computes."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from app import create_app
from app.dashboards.definitions import load_dashboards
from app.dashboards.panels import dashboard_data, panel_data, window_for
from app.demo.generator import generate
from app.events.convert import format_ts
from app.query import parse
from app.query.timeexpr import parse_time
from app.rollups.sketch import MIN_MS, RELATIVE_ACCURACY
from app.events.schema import get_path

from conftest import BACKENDS, all_events, store_url_for
from test_rollups import brute_route
from test_search import matches

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
START = END - timedelta(days=3)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("dashboards")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(generate(3000, days=3, seed=23, end=END))]
    assert services.ingestor.ingest(lines, position="line").accepted == 3000
    yield services.store, all_events(services.store)
    services.close()


def ms(event: dict) -> int:
    return parse_time(event["@timestamp"], 0)


def picked(events, query: str) -> list[dict]:
    node = parse(query)
    return [e for e in events if matches(node, e, every_value=True)]


def buckets(events, x: list[int], width: int) -> list[int]:
    counts = Counter((ms(e) // width) * width for e in events)
    return [counts.get(start, 0) for start in x]


def nearest_rank(ordered, p):
    return ordered[min(max(1, math.ceil(p / 100 * len(ordered))), len(ordered)) - 1] if ordered else None


def check(panel, figures, events):
    kind, d = panel.kind, figures["data"]
    # percentiles from sketches say so in one note ("… within 1 % …"); a top panel's counts from them are exact
    sketched = (d or {}).get("source") == "rollups" and kind == "percentiles"
    routed = panel.by == "url.path" and kind in ("percentiles", "top")   # url.path folded to routes
    assert figures["error"] is None and len(figures["notes"]) == sketched + routed, figures
    assert not sketched or "within 1 %" in figures["notes"][-1]
    assert not routed or "grouped by route" in figures["notes"][0]
    mine = picked(events, panel.query)
    if kind == "number":
        assert d["count"] == len(mine) and d["exact"]
        if panel.ratio_of is not None:
            base = picked(events, panel.ratio_of)
            assert d["of"] == len(base)
            assert d["value"] == (len(mine) / len(base) if base else None)
    elif kind == "timeseries":
        for series, spec in zip(d["series"], panel.series):
            assert series["values"] == buckets(picked(events, spec.query), d["x"], d["width_ms"]), series["label"]
    elif kind == "stacked":
        by_value = Counter(get_path(e, panel.by) for e in mine if get_path(e, panel.by) is not None)
        listed = [s for s in d["series"] if not s.get("rest")]
        assert sorted((s["total"] for s in listed), reverse=True) == \
            sorted(by_value.values(), reverse=True)[:len(listed)]
        assert len(listed) == min(panel.limit, len(by_value))
        rest = list(mine)
        for s in listed:
            group = [e for e in mine if str(get_path(e, panel.by)) == s["label"]]
            assert s["values"] == buckets(group, d["x"], d["width_ms"]), s["label"]
            rest = [e for e in rest if str(get_path(e, panel.by)) != s["label"]]
        other = next((s for s in d["series"] if s.get("rest")), None)
        assert (other["values"] if other else [0] * len(d["x"])) == buckets(rest, d["x"], d["width_ms"])
    elif kind == "top":
        fold = brute_route if routed else (lambda v: v)
        by_value = Counter(fold(get_path(e, panel.by)) for e in mine if get_path(e, panel.by) is not None)
        assert [r["count"] for r in d["rows"]] == sorted(by_value.values(), reverse=True)[:panel.limit]
        for row in d["rows"]:
            assert row["count"] == by_value[row["value"]], row
            assert (row["link"] is None) == (routed and "*" in row["value"]), row   # a route has no one term
        assert d["total"] == len(mine) and d["rest"] == len(mine) - sum(r["count"] for r in d["rows"])
    elif kind == "percentiles":
        measured = [e for e in mine if isinstance(get_path(e, panel.field), (int, float))]
        overall = sorted(float(get_path(e, panel.field)) for e in measured)
        assert d["exact"] and d["overall"]["count"] == len(overall)
        same = close if d.get("source") == "rollups" else (lambda a, b: a == b)   # sketches: within 1 %
        assert same(d["overall"]["values"], [nearest_rank(overall, p) for p in panel.percentiles])
        for row in d["rows"]:
            fold = brute_route if routed else (lambda v: v)
            values = sorted(float(get_path(e, panel.field)) for e in measured if fold(get_path(e, panel.by)) == row["value"])
            assert same(row["values"], [nearest_rank(values, p) for p in panel.percentiles]), row["value"]
    elif kind == "status":
        failing = parse(d["failure_query"])
        values = Counter(get_path(e, panel.by) for e in mine if get_path(e, panel.by) is not None)
        assert len(d["cells"]) == min(panel.limit, len(values))
        for cell in d["cells"]:
            group = [e for e in mine if get_path(e, panel.by) == cell["value"]]
            judged = [e for e in group if ms(e) >= d["recent"]["start_ms"]] if d["recent"] else group
            assert (panel.recent_ms is not None) == bool(d["recent"])
            assert cell["count"] == len(judged) and cell["range_count"] == len(group)
            assert cell["range_failures"] == sum(1 for e in group if matches(failing, e, every_value=True))
            assert cell["failures"] == sum(1 for e in judged if matches(failing, e, every_value=True))
            assert (cell["state"] == "quiet") == (not judged)
            newest = max(ms(e) for e in group)
            assert ms({"@timestamp": cell["latest_at"]}) == newest
            assert cell["latest"] in {get_path(e, panel.status_field) for e in group if ms(e) == newest}
    elif kind == "events":
        assert d["total"] == len(mine)
        newest = sorted((ms(e) for e in mine), reverse=True)[:panel.limit]
        if "@timestamp" in panel.columns:
            shown = [ms({"@timestamp": r["cells"][panel.columns.index("@timestamp")]}) for r in d["rows"]]
            assert shown == newest


def close(got: list, exact: list, accuracy: float = RELATIVE_ACCURACY) -> bool:
    """Each figure within the sketch's relative accuracy of the exact one (durations at or below
    sketch.MIN_MS count as 0)."""
    return len(got) == len(exact) and all(
        (g is None and e is None) or (g is not None and e is not None
                                      and abs(g - e) <= accuracy * abs(e) + MIN_MS) for g, e in zip(got, exact))


@pytest.mark.parametrize("board", load_dashboards(), ids=lambda b: b.id)
def test_every_panel_equals_brute_force(world, board):
    store, events = world
    window = window_for(board, {"from": format_ts(int(START.timestamp() * 1000)),
                                "to": format_ts(int(END.timestamp() * 1000))})
    inside = [e for e in events if window.start_ms <= ms(e) < window.end_ms]
    data = dashboard_data(store, lambda r: r, window, board, sees_personal=True)
    assert [p["id"] for p in data["panels"]] == [p.id for p in board.panels]
    for panel, figures in zip(board.panels, data["panels"]):
        check(panel, figures, inside)


def test_a_budget_that_ran_out_is_said_never_silent(world):
    """A store given no time for facets and histograms (budget_ms=0): every panel that counts by
    value or over time says so, and the numbers that are exact stay exact."""
    store, events = world
    board = next(b for b in load_dashboards() if b.id == "platform-overview")
    window = window_for(board, {"from": format_ts(int(START.timestamp() * 1000)),
                                "to": format_ts(int(END.timestamp() * 1000))})
    data = dashboard_data(store, lambda r: replace(r, budget_ms=0), window, board, sees_personal=True)
    panels = {p["id"]: p for p in data["panels"]}
    for panel_id in ("by-component", "components", "services", "payments-by-status", "logins"):
        assert any("time budget ran out" in note for note in panels[panel_id]["notes"]), panels[panel_id]
    assert panels["events"]["notes"] == [] and panels["events"]["data"]["exact"]


def test_percentiles_past_the_read_bound_say_over_how_many(world, monkeypatch):
    store, events = world
    monkeypatch.setattr("app.dashboards.panels.PERCENTILE_MAX", 100)
    board = next(b for b in load_dashboards() if b.id == "api")
    # narrowed by a field the rollups' sketches are not kept by: read from the events
    board = replace(board, panels=tuple(replace(p, query=p.query + " AND http.request.method:GET")
                                        if p.id == "slowest-routes" else p for p in board.panels))
    window = window_for(board, {"from": format_ts(int(START.timestamp() * 1000)),
                                "to": format_ts(int(END.timestamp() * 1000))})
    data = dashboard_data(store, lambda r: r, window, board, sees_personal=True)
    slowest = next(p for p in data["panels"] if p["id"] == "slowest-routes")
    assert not slowest["data"]["exact"] and slowest["data"]["read"] == 100
    assert any("newest 100 events with http.duration" in note for note in slowest["notes"])
    newest = sorted((e for e in events if e.get("event", {}).get("component") == "api"
                     and get_path(e, "http.request.method") == "GET"
                     and isinstance(get_path(e, "http.duration"), (int, float))), key=ms, reverse=True)[:100]
    assert slowest["data"]["overall"]["max"] == max(float(get_path(e, "http.duration")) for e in newest)


def test_busiest_routes_fold_alike_when_the_rollups_cannot_answer(world):
    """A top panel by url.path whose query the sketches do not qualify (a method) folds a facet
    of the raw paths instead: the same routes, the same exact counts."""
    store, events = world
    board = next(b for b in load_dashboards() if b.id == "api")
    busiest = next(p for p in board.panels if p.id == "busiest-routes")
    narrowed = replace(busiest, query="event.component:api AND http.request.method:GET")
    window = window_for(board, {"from": format_ts(int(START.timestamp() * 1000)),
                                "to": format_ts(int(END.timestamp() * 1000))})
    inside = [e for e in events if window.start_ms <= ms(e) < window.end_ms]
    figures = panel_data(store, lambda r: r, window, narrowed, sees_personal=True)
    assert figures["data"].get("source") is None          # read from the store's facet, not the rollups
    assert any("/*" in row["value"] for row in figures["data"]["rows"])   # ids were folded
    check(narrowed, figures, inside)
    fast = panel_data(store, lambda r: r, window, busiest, sees_personal=True)
    assert fast["data"].get("source") == "rollups"
    check(busiest, fast, inside)


def test_a_relative_range_is_read_in_whole_minutes_and_stays_exact(world):
    """`now-3d` → now is widened to whole minutes (the rollups answer it all, no partial minute read
    from the events); an absolute range is kept to the millisecond. Either way every panel equals
    brute force over the window it reports."""
    store, events = world
    now = int(END.timestamp() * 1000) - 41_337            # a now inside a minute
    board = next(b for b in load_dashboards() if b.id == "platform-overview")
    window = window_for(board, {"from": "now-3d"}, now_ms=now)
    assert window.start_ms % 60_000 == 0 and window.end_ms % 60_000 == 0
    assert window.start_ms <= now - 3 * 86_400_000 < window.start_ms + 60_000 and now < window.end_ms <= now + 60_000
    exact = window_for(board, {"from": format_ts(now - 3 * 86_400_000), "to": format_ts(now)}, now_ms=now)
    assert (exact.start_ms, exact.end_ms) == (now - 3 * 86_400_000, now)
    for w in (window, exact):
        inside = [e for e in events if w.start_ms <= ms(e) < w.end_ms]
        data = dashboard_data(store, lambda r: r, w, board, sees_personal=True)
        for panel, figures in zip(board.panels, data["panels"]):
            check(panel, figures, inside)
