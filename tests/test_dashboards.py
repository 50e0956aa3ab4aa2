"""Dashboards as data: the shipped files load, a bad file is refused naming file, panel and field,
and the pages and the JSON API answer every role that may read them (masked values for masked
roles, 400 for a bad range, 404 for an unknown dashboard). Figures against brute force:
tests/test_dashboards_counts.py; in Chromium: tests/browser/test_dashboards.py."""
from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone

import orjson
import pytest

from app.dashboards import definitions
from app.dashboards.definitions import DashboardError, load_dashboards, load_file, shipped
from app.demo.generator import generate

REQUIRED = {"integration-health", "platform-overview", "payments", "api", "security"}
HUMAN_ROLES = ("administrator", "security", "operations", "technical", "support", "manager", "auditor")


def test_the_shipped_dashboards_load_and_cover_the_required_ones():
    boards = load_dashboards()
    assert REQUIRED <= {d.id for d in boards}
    kinds = {p.kind for d in boards for p in d.panels}
    assert kinds == set(definitions.KINDS), "every panel kind is used by a shipped dashboard"
    assert shipped()[1] == []


GOOD_PANEL = {"id": "p", "title": "P", "kind": "number", "query": "event.component:api"}

BAD = [  # (YAML text, fragments the error must name)
    ("title: [", ["bad.yaml", "not valid YAML (line"]),
    ("- a\n- b", ["bad.yaml", "a dashboard is a mapping"]),
    ("title: T\npanels: []", ["bad.yaml", "panels", "1 to 24 panels"]),
    ("title: T\ncolour: red\npanels: [{id: p, title: P, kind: number}]", ["bad.yaml", "colour", "unknown key"]),
    ("panels: [{id: p, title: P, kind: number}]", ["bad.yaml", "title", "is required"]),
    ("title: T\nrange: yesterday\npanels: [{id: p, title: P, kind: number}]", ["bad.yaml", "range"]),
    ("title: T\nrefresh: 10s\npanels: [{id: p, title: P, kind: number}]", ["bad.yaml", "refresh", "off, 30s, 1m, 5m"]),
    ("title: T\npanels: [{id: p, title: P, kind: pie}]", ["bad.yaml", "panel p", "kind", "number, timeseries"]),
    ("title: T\npanels: [{id: p, title: P, kind: number, query: 'log.level:(error'}]",
     ["bad.yaml", "panel p", "query", "position"]),
    ("title: T\npanels: [{id: p, title: P, kind: number, query: 'nosuch.field:x'}]",
     ["bad.yaml", "panel p", "query", "unknown field"]),
    ("title: T\npanels: [{id: p, title: P, kind: top, by: message}]", ["bad.yaml", "panel p", "by", "cannot be grouped"]),
    ("title: T\npanels: [{id: p, title: P, kind: top, by: event.componnt}]",
     ["bad.yaml", "panel p", "by", "did you mean 'event.component'"]),
    ("title: T\npanels: [{id: p, title: P, kind: top, by: event.type, limit: 500}]", ["panel p", "limit", "between 1 and 50"]),
    ("title: T\npanels: [{id: p, title: P, kind: number, by: event.type}]", ["panel p", "by", "unknown key 'by' for a number panel"]),
    ("title: T\npanels: [{id: p, title: P, kind: percentiles, field: event.type}]",
     ["panel p", "field", "cannot be measured"]),
    ("title: T\npanels: [{id: p, title: P, kind: percentiles, field: http.duration, percentiles: [50, 150]}]",
     ["panel p", "percentiles"]),
    ("title: T\npanels: [{id: p, title: P, kind: status, by: integration.provider}]", ["panel p", "status_field", "is required"]),
    ("title: T\npanels: [{id: p, title: P, kind: timeseries, series: [{label: a, query: 'x:('}]}]",
     ["panel p", "series 1 query"]),
    ("title: T\npanels: [{id: p, title: P, kind: timeseries, series: [{label: a}, {label: a}]}]",
     ["panel p", "series", "same label"]),
    ("title: T\npanels: [{id: p, title: P, kind: events, columns: [nosuch]}]", ["panel p", "columns", "unknown field"]),
    ("title: T\npanels: [{title: P, kind: number}]", ["panel #1", "id", "is required"]),
    ("title: T\npanels: [{id: p, title: P, kind: number}, {id: p, title: Q, kind: number}]",
     ["panel p", "id", "earlier panel"]),
    ("title: T\npanels: [{id: p, title: P, kind: number, width: huge}]", ["panel p", "width"]),
    ("title: T\npanels: [{id: p, title: P, kind: status, by: integration.provider, status_field: integration.status,"
     " recent: soon}]", ["panel p", "recent", "duration"]),
    ("title: T\npanels: [{id: p, title: P, kind: status, by: integration.provider, status_field: integration.status,"
     " recent: 10s}]", ["panel p", "recent", "from 1m to 7d"]),
    ("title: T\npanels: [{id: p, title: P, kind: top, by: integration.provider, recent: 5m}]",
     ["panel p", "recent", "unknown key"]),
    ("title: T\na: &a [x]\nb: *a\npanels: [{id: p, title: P, kind: number}]", ["bad.yaml", "aliases", "line 3"]),
]


@pytest.mark.parametrize("text,fragments", BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_file_is_refused_naming_file_panel_and_field(tmp_path, text, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DashboardError) as info:
        load_file(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_a_bad_file_is_left_out_and_named_the_others_still_show(tmp_path):
    (tmp_path / "good.yaml").write_text("title: Good\npanels: [{id: p, title: P, kind: number}]")
    (tmp_path / "broken.yml").write_text("title: Broken\npanels: [{id: p, title: P, kind: nope}]")
    boards, errors = shipped(tmp_path)
    assert [b.id for b in boards] == ["good"]
    assert len(errors) == 1 and "broken.yml" in str(errors[0]) and errors[0].panel == "p"
    assert errors[0].as_dict()["field"] == "kind"
    with pytest.raises(DashboardError, match="broken.yml"):
        load_dashboards(tmp_path)


def test_the_id_is_the_file_stem_and_yaml_off_means_off(tmp_path):
    (tmp_path / "ops-board.yaml").write_text(textwrap.dedent("""\
        title: Ops
        refresh: off
        panels: [{id: p, title: P, kind: number}]
    """))
    board = load_file(tmp_path / "ops-board.yaml")
    assert board.id == "ops-board" and board.refresh == "off" and board.range == "now-24h"
    (tmp_path / "Bad Name.yaml").write_text("title: X\npanels: [{id: p, title: P, kind: number}]")
    with pytest.raises(DashboardError, match="file name is the dashboard's id"):
        load_file(tmp_path / "Bad Name.yaml")


# -- pages and API -----------------------------------------------------------------------------

END = datetime.now(timezone.utc)


@pytest.fixture
def demo_app(app):
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(generate(1500, days=1, seed=5, end=END))]
    assert app.extensions["platlogs"].ingestor.ingest(lines, position="line").accepted == 1500
    return app


@pytest.mark.parametrize("role", HUMAN_ROLES)
def test_every_role_reads_every_dashboard_on_an_empty_store(app, persona, role):
    client = persona(role)
    listing = client.get("/dashboards")
    assert listing.status_code == 200
    for board in load_dashboards():
        assert f'href="/dashboards/{board.id}"' in listing.get_data(as_text=True)
        page = client.get(f"/dashboards/{board.id}")
        assert page.status_code == 200, (board.id, page.status_code)
        html = page.get_data(as_text=True)
        assert html.count('class="panel ') == len(board.panels)
        assert "No events in this range." in html or "data-value=\"0\"" in html


def test_a_manager_reads_every_dashboard_on_demo_data_each_panel_linking_to_its_search(demo_app, persona):
    client = persona("manager")
    for board in load_dashboards():
        html = client.get(f"/dashboards/{board.id}?from=now-2d").get_data(as_text=True)
        panels = re.findall(r'<section class="panel (.*?)</section>', html, re.S)
        assert len(panels) == len(board.panels)
        for panel, body in zip(board.panels, panels):
            assert 'class="error"' not in body, (board.id, panel.id, body[:500])
            link = re.search(r'<a class="as-search" href="(/\?[^"]+)"', body)
            assert link and "from=now-2d" in link.group(1), (board.id, panel.id)
        assert "refresh" in html and 'data-time="from"' in html


def test_the_api_answers_what_the_page_shows_to_a_read_key(demo_app, client, read_headers, persona):
    manager = persona("manager")    # signed in first: a sign-in is an event too
    listing = client.get("/api/v1/dashboards", headers=read_headers).get_json()
    assert REQUIRED <= {d["id"] for d in listing["dashboards"]}
    data = client.get("/api/v1/dashboards/platform-overview/data?from=now-2d", headers=read_headers).get_json()
    events = next(p for p in data["panels"] if p["id"] == "events")
    assert events["data"]["count"] == 1501 and events["data"]["exact"] is True   # the demo and the sign-in
    assert events["link"].startswith("/?") and data["range"]["from"] == "now-2d"
    page = manager.get("/dashboards/platform-overview?from=now-2d").get_data(as_text=True)
    assert re.search(r'id="panel-events".*?data-value="1501"', page, re.S)


def test_masked_roles_see_personal_group_values_masked_without_links(demo_app, client, read_headers, persona):
    def by_address(answer):
        return next(p for p in answer["panels"] if p["id"] == "failed-logins-by-address")["data"]["rows"]
    masked = by_address(client.get("/api/v1/dashboards/security/data?from=now-2d", headers=read_headers).get_json())
    seen = by_address(persona("security").get("/api/v1/dashboards/security/data?from=now-2d").get_json())
    assert seen and masked
    assert all(row["link"] for row in seen) and not any(row["link"] for row in masked)
    assert {row["value"] for row in masked}.isdisjoint({row["value"] for row in seen})
    assert sum(r["count"] for r in masked) == sum(r["count"] for r in seen)


def test_bad_range_and_unknown_dashboard(app, client, read_headers, persona):
    answer = client.get("/api/v1/dashboards/api/data?from=yesterday-ish", headers=read_headers)
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "from"
    assert client.get("/api/v1/dashboards/nope/data", headers=read_headers).status_code == 404
    page = persona("manager")
    assert page.get("/dashboards/api?from=now-1h&to=now-2h").status_code == 400
    assert page.get("/dashboards/nope").status_code == 404
    assert client.get("/api/v1/dashboards").status_code == 401


def test_every_view_is_in_the_reading_trail(app, persona):
    client = persona("manager")
    assert client.get("/dashboards/payments").status_code == 200
    trail = app.extensions["platlogs"].trail
    from app.query import parse
    from app.storage import SearchRequest
    found = trail.search(SearchRequest(query=parse('labels.dashboard:payments'), size=5))
    assert found.total == 1


def test_hostile_values_reach_the_page_only_as_text(app, ingest_headers, client, persona):
    hostile = "<img src=x onerror=alert(1)>'\"{{7*7}}"
    events = [{"message": hostile, "event": {"component": "integration", "type": "provider_request"},
               "integration": {"provider": hostile, "status": "timeout", "duration": 5.0, "kind": "game"}}
              for _ in range(3)]
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).status_code == 200
    html = persona("manager").get("/dashboards/integration-health").get_data(as_text=True)
    assert "<img src=x" not in html and "{{7*7}}" in html                 # escaped, and no template ran it
    assert "&lt;img src=x onerror=alert(1)&gt;" in html                  # a status cell, a table row
    chart = re.search(r"data-chart='([^']*)'", html).group(1)            # the attribute stays closed
    assert "<" not in chart and "\\u003cimg" in chart


class TestARefusedTrail:
    """The reading trail refuses its records (more fields than this store accepts): a dashboard's
    figures are not answered, on the page or from the API (fails closed, as every read)."""

    @pytest.fixture
    def env(self, tmp_path):
        return {"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_MAX_FIELDS_PER_EVENT": "10"}

    def test_a_dashboard_whose_trail_record_is_refused_is_not_answered(self, app, client, ingest_headers, persona):
        event = {"message": "provider secret-figure", "event": {"component": "integration"},
                 "integration": {"provider": "SecretPay"}}
        assert client.post("/api/v1/events", json=event, headers=ingest_headers).status_code == 200
        manager = persona("administrator")
        page = manager.get("/dashboards/integration-health")
        assert page.status_code == 503 and "not recorded" in page.get_data(as_text=True)
        assert "SecretPay" not in page.get_data(as_text=True)
        answer = manager.get("/api/v1/dashboards/integration-health/data")
        assert answer.status_code == 503 and "SecretPay" not in answer.get_data(as_text=True)


def test_a_status_panel_with_recent_judges_the_newest_part_of_the_range(app):
    """A short outage at the end of a long range: `ok` over the whole range (under 5 % failed),
    `failing` over the last 15 minutes; a provider without calls then is `quiet`."""
    from app.dashboards.definitions import validate_dashboard
    from app.dashboards.panels import dashboard_data, window_for
    from app.events.convert import format_ts
    services = app.extensions["platlogs"]
    now = int(datetime.now(timezone.utc).timestamp() * 1000)

    def call(provider, status, ago_ms):
        return {"@timestamp": format_ts(now - ago_ms), "message": f"{provider} {status}",
                "event": {"component": "integration"},
                "integration": {"provider": provider, "status": status, "duration": 12.5}}
    events = [call("acme", "ok", 20 * 60_000 + i * 60_000) for i in range(200)]            # 20 min .. 3.6 h ago
    events += [call("acme", "error", 60_000 + i * 30_000) for i in range(9)]               # the last 6 minutes
    events += [call("quietco", "ok", 60 * 60_000 + i * 60_000) for i in range(5)]          # an hour ago and before
    lines = [(i, orjson.dumps(e)) for i, e in enumerate(events)]
    assert services.ingestor.ingest(lines, position="line").accepted == len(events)
    spec = {"title": "T", "panels": [{"id": "s", "title": "S", "kind": "status", "query": "event.component:integration",
                                      "by": "integration.provider", "status_field": "integration.status",
                                      "failure_query": "integration.status:error"}]}
    cells = {}
    for recent in (None, "15m"):
        if recent:
            spec["panels"][0]["recent"] = recent
        board = validate_dashboard(spec, "t")
        window = window_for(board, {"from": "now-6h"}, now_ms=now + 1)
        data = dashboard_data(services.store, lambda r: r, window, board, sees_personal=True)["panels"][0]
        assert data["error"] is None, data
        cells[recent] = {c["value"]: c for c in data["data"]["cells"]}
        judged_from = (data["data"]["recent"] or {}).get("start")
    whole, recent = cells[None], cells["15m"]
    assert whole["acme"]["state"] == "ok" and whole["acme"]["failures"] == 9 and whole["acme"]["count"] == 209
    assert recent["acme"]["state"] == "failing" and recent["acme"]["count"] == 9 == recent["acme"]["failures"]
    assert recent["acme"]["range_count"] == 209
    assert recent["quietco"]["state"] == "quiet" and recent["quietco"]["share"] is None
    assert [c for c in cells["15m"]] == ["acme", "quietco"]
    assert recent["acme"]["range_failures"] == 9 and whole["acme"]["range_failures"] == 9
    assert recent["acme"]["failure_link"]["from"] == judged_from == format_ts(window.end_ms - 15 * 60_000)
