"""An investigation in the browser: a search narrowed by a facet click and a histogram zoom, an
event and its timeline, and the live tail receiving an event ingested during the test."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from playwright.sync_api import expect

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def shown_total(page) -> int:
    return int(page.locator("p.summary strong").first.inner_text().replace(",", "").rstrip("+"))


def test_a_facet_click_and_a_histogram_zoom_narrow_the_search(live_server, signed_in_page):
    live_server.ingest([{"@timestamp": stamp(100 - i), "message": f"browser deposit {i}",
                         "service": {"name": "wallet" if i % 3 == 0 else "payments"},
                         "event": {"id": f"b-dep-{i}"}} for i in range(90)])
    page = signed_in_page("operations")
    page.goto("/?q=browser&from=now-3h")
    assert shown_total(page) == 90
    page.locator(".facet a.include", has_text="wallet").click()
    page.wait_for_url(re.compile(r"service\.name"))
    assert shown_total(page) == 30
    expect(page.get_by_label("Query")).to_have_value('browser service.name:"wallet"')

    # drag across part of the histogram: the URL gets that time range, and fewer events show
    box = page.locator("figure.histogram svg").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.35, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    with page.expect_navigation():
        page.mouse.up()
    args = dict(re.findall(r"(from|to)=(\d{4}-[^&]+Z)", unquote(page.url)))   # ISO times, not epoch ms
    assert set(args) == {"from", "to"} and args["from"] < args["to"]
    zoomed = shown_total(page)
    assert 0 < zoomed < 30
    # a click on one bar zooms to that bar
    bar = page.locator("figure.histogram a[data-start-ms]").filter(has=page.locator("rect")).nth(0)
    with page.expect_navigation():
        bar.click()
    assert re.search(r"from=\d{4}-", page.url)
    assert shown_total(page) <= zoomed


def test_an_event_and_its_timeline(live_server, signed_in_page):
    live_server.ingest([{"@timestamp": stamp(30 - i), "message": f"step {i} of the story",
                         "correlation": {"id": "corr-browser-1"}, "event": {"id": f"story-{i}"},
                         "log": {"level": "error" if i == 2 else "info"}} for i in range(4)])
    page = signed_in_page("operations")
    page.goto("/?q=correlation.id:corr-browser-1&from=now-2h")
    page.locator("td.ts a").first.click()
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("table.fields")).to_contain_text("corr-browser-1")
    page.get_by_role("link", name=re.compile("Timeline of this correlation")).click()
    for i in range(4):
        expect(page.get_by_text(f"step {i} of the story")).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="Surrounding by correlation.id").click()
    expect(page.locator("table.events tbody tr")).to_have_count(4)


def test_the_live_tail_shows_an_event_ingested_while_it_is_open(live_server, signed_in_page):
    page = signed_in_page("operations")
    page.goto("/tail?q=log.level:error")
    expect(page.locator("#tail-status")).to_contain_text("following", timeout=10_000)
    time.sleep(1.2)   # the stream follows events newer than when it started
    live_server.ingest([{"@timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                         "message": "tail <b>arrived</b> during the test", "log": {"level": "error"},
                         "event": {"id": "tail-browser-1"}},
                        {"message": "an info event the tail must not show", "log": {"level": "info"}}])
    row = page.locator("#tail-rows tr", has_text="arrived")
    expect(row).to_have_count(1, timeout=15_000)
    expect(row).to_contain_text("tail <b>arrived</b> during the test")   # as text, not markup
    assert page.locator("#tail-rows b").count() == 0
    expect(page.locator("#tail-rows")).not_to_contain_text("must not show")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#tail-status")).to_contain_text("paused")
