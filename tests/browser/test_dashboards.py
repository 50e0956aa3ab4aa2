"""Every shipped dashboard in Chromium, on an empty store and then on demo traffic, as a manager:
it renders with no script error and no Content-Security-Policy violation (the fixtures fail the
test on either), every chart panel draws its chart (uPlot's canvas), every panel links to its
search, the range is shown in the browser's zone with UTC beside it, and the range and the
auto-refresh choice live in the URL."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from playwright.sync_api import expect

from app.dashboards.definitions import load_dashboards
from app.demo.generator import generate

BOARDS = load_dashboards()


def read_every_dashboard(page, shots=None):
    for board in BOARDS:
        page.goto(f"/dashboards/{board.id}?from=now-2d")
        expect(page.locator("h1")).to_contain_text(board.title)
        expect(page.locator("section.panel")).to_have_count(len(board.panels))
        charts = [p for p in board.panels if p.kind in ("timeseries", "stacked")]
        expect(page.locator("section.panel .chart canvas")).to_have_count(len(charts))
        for panel in board.panels:
            link = page.locator(f"#panel-{panel.id} a.as-search")
            assert re.match(r"/\?q=.*from=now-2d", link.get_attribute("href")), (board.id, panel.id)
        expect(page.locator(".range-line time").first).to_contain_text("UTC")
        if shots is not None:
            page.screenshot(path=str(shots / f"{board.id}.png"), full_page=True)


def test_every_dashboard_renders_on_an_empty_store_and_on_demo_traffic(live_server, signed_in_page, tmp_path):
    page = signed_in_page("manager")
    page.goto("/dashboards")
    for board in BOARDS:
        expect(page.get_by_role("link", name=board.title, exact=True)).to_be_visible()
    read_every_dashboard(page)

    events = list(generate(2000, days=1, seed=7, end=datetime.now(timezone.utc)))
    for start in range(0, len(events), 500):
        live_server.ingest(events[start:start + 500])
    # hostile log data in group values, chart labels and event lists: text only, no script runs
    hostile = "<img src=x onerror=alert(1)>'\"</script><script>alert(2)</script>{{7*7}}"
    live_server.ingest([{"message": hostile, "event": {"component": "integration", "type": "provider_request"},
                         "integration": {"provider": hostile, "status": "timeout", "duration": 12.5, "kind": "game"}}
                        for _ in range(5)])
    read_every_dashboard(page, tmp_path)
    page.goto("/dashboards/integration-health?from=now-2d")
    expect(page.locator(".status-grid .cell").first).to_be_visible()
    expect(page.locator(".status-grid .cell strong", has_text="<img src=x")).to_have_count(1)
    expect(page.locator("#panel-failures-by-provider .u-legend", has_text="<img src=x")).to_have_count(1)
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    # print: the charts are still there, the controls are not
    page.emulate_media(media="print")
    expect(page.locator(".dashboard-controls")).to_be_hidden()
    expect(page.locator(".chart canvas").first).to_be_visible()


def test_range_and_refresh_are_in_the_url(live_server, signed_in_page):
    page = signed_in_page("manager")
    page.goto("/dashboards/api")
    page.get_by_role("link", name="7 days").click()
    page.wait_for_url(re.compile(r"from=now-7d"))
    page.get_by_label("Auto-refresh").select_option("30s")
    page.wait_for_url(re.compile(r"refresh=30s"))
    assert "from=now-7d" in page.url
    expect(page.get_by_label("Auto-refresh")).to_have_value("30s")
    # the absolute range: the search page's picker, local time beside UTC
    page.locator("details.timepicker summary").click()
    expect(page.locator("output[data-local-for=from]")).to_contain_text("UTC")
    page.locator("input[data-time=from]").fill("2026-01-01T00:00:00Z")
    page.locator("input[data-time=to]").fill("2026-01-02T00:00:00Z")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"to=2026-01-02"))
    assert "refresh=30s" in page.url
    expect(page.locator(".range-line")).to_contain_text("2026-01-01")


def test_times_in_panels_are_local_with_utc_on_hover(live_server, new_page, sign_in):
    live_server.ingest([{"message": "lockout for the clock test", "event": {"action": "account_locked"},
                         "@timestamp": "2026-12-01T10:20:30.000Z"}])
    page = new_page(timezone_id="Asia/Tokyo")     # watched for script errors and CSP reports like the others
    sign_in(page, live_server.create_user("manager"))
    page.goto("/dashboards/security?from=2026-11-30T00:00:00Z&to=2026-12-02T00:00:00Z")
    cell = page.locator("#panel-lockout-list time").first
    expect(cell).to_have_text("2026-12-01 19:20:30")                  # Tokyo is UTC+9
    assert cell.get_attribute("title") == "2026-12-01 10:20:30 UTC"
    expect(page.locator(".range-line time").first).to_contain_text("Asia/Tokyo")
    expect(page.locator(".range-line time").first).to_contain_text("2026-11-30 00:00:00 UTC")


def test_a_manager_builds_a_dashboard_in_the_textarea(live_server, signed_in_page):
    """Copy a shipped dashboard, break it (the error names file, panel, field), preview the fixed
    text without saving, save it: it is listed under "Made in the back office" and opens; no
    script error or CSP violation on the way (the fixtures fail the test on either)."""
    page = signed_in_page("manager")
    page.goto("/dashboards")
    page.locator('li[data-dashboard="api"]').get_by_role("link", name="copy to my dashboards").click()
    expect(page.locator("input[name=id]")).to_have_value("api-copy")
    text = page.locator("textarea[name=yaml]").input_value()
    assert "title: API" in text
    page.locator("input[name=id]").fill("my-api")
    page.locator("textarea[name=yaml]").fill(text.replace("title: API", "title: My API", 1)
                                             .replace("kind: number", "kind: pie", 1))
    page.get_by_role("button", name="Save", exact=True).click()
    error = page.locator(".dashboard-error")
    expect(error).to_contain_text("my-api")
    expect(error).to_contain_text("kind")
    page.locator("textarea[name=yaml]").fill(text.replace("title: API", "title: My API", 1))
    page.get_by_role("button", name="Preview (not saved)").click()
    expect(page.locator("section.panel").first).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("h1")).to_contain_text("My API")
    page.goto("/dashboards")
    expect(page.locator(".stored-dashboards li[data-dashboard=my-api]")).to_contain_text("My API")
