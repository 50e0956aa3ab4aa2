"""The search page people expect from Kibana Discover or Grafana Explore (issue 13, item 6), in a
real Chromium: the query box keeps the query through Apply and a time preset, ISO times after a
histogram zoom, local time beside UTC, autocomplete of field names and top values (masked for a
role without see_personal), `/` `Esc` `Enter`, dark mode from the system, a favicon, and a
390 px phone without horizontal scrolling."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def args(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query, keep_blank_values=True).items()}


@pytest.fixture(scope="module")
def events(live_server):
    live_server.ingest([{"@timestamp": stamp(90 - i), "message": f"ux deposit {i}", "event": {"id": f"ux-{i}"},
                         "service": {"name": "wallet" if i % 3 == 0 else "payments"},
                         "actor": {"type": "player", "id": f"p-ux{i % 3}", "email": f"ux{i % 3}@example.com",
                                   "ip": f"198.51.100.{i % 3}"}}
                        for i in range(60)])


def test_apply_and_a_preset_keep_the_query_typed_in_the_box(live_server, events, signed_in_page):
    page = signed_in_page("operations")
    page.goto("/?q=ux&from=now-3h")
    box = page.get_by_label("Query")
    box.fill("ux service.name:wallet")
    page.locator("details.timepicker > summary").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Last 24 hours").click()
    assert args(page)["q"] == "ux service.name:wallet" and args(page)["from"] == "now-24h"
    expect(page.get_by_label("Query")).to_have_value("ux service.name:wallet")

    page.get_by_label("Query").fill("ux service.name:payments")
    page.locator("details.timepicker > summary").click()
    page.locator("#search-form input[name=from]").fill("now-2h")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert args(page)["q"] == "ux service.name:payments" and args(page)["from"] == "now-2h"
    expect(page.get_by_label("Query")).to_have_value("ux service.name:payments")


def test_a_zoom_puts_iso_times_in_the_url_and_the_box_shown_in_local_time_and_utc(events, new_page, signed_in_page,
                                                                                  live_server):
    user = live_server.create_user("operations")
    signed_in_page(user=user)   # signs in once; the next page (another zone) reuses the session
    page = new_page(storage_state=live_server.sessions[user.username], timezone_id="Asia/Kolkata")
    page.goto("/?q=ux&from=now-3h")
    box = page.locator("figure.histogram svg").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    with page.expect_navigation():
        page.mouse.up()
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z"
    assert re.fullmatch(iso, args(page)["from"]) and re.fullmatch(iso, args(page)["to"]), page.url
    assert args(page)["from"] < args(page)["to"]
    expect(page.locator("#search-form input[name=from]")).to_have_value(re.compile(iso))
    # the range is shown in the browser's zone (India: +05:30) with UTC beside it
    start = datetime.fromisoformat(args(page)["from"].replace("Z", "+00:00"))
    local = start.astimezone(timezone(timedelta(hours=5, minutes=30)))
    summary = page.locator("details.timepicker > summary")
    expect(summary).to_contain_text(local.strftime("%H:%M"))
    expect(summary).to_contain_text(start.strftime("%H:%M:%S") + " UTC")
    expect(page.locator(".timepicker .local-from")).to_contain_text("UTC+05:30")


def test_autocomplete_offers_field_names_then_their_top_values(events, signed_in_page):
    page = signed_in_page("security")
    page.goto("/?q=&from=now-3h")
    box = page.get_by_label("Query")
    box.click()
    box.type("service.na")
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_contain_text("service.name")
    box.press("ArrowDown")
    box.press("Enter")   # takes the highlighted suggestion, does not search
    expect(box).to_have_value("service.name:")
    expect(options.filter(has_text="payments")).to_have_count(1)
    expect(options.filter(has_text="wallet")).to_contain_text("20")
    options.filter(has_text="wallet").click()
    expect(box).to_have_value("service.name:wallet ")
    # security sees personal values
    box.type("actor.email:ux1")
    expect(options.filter(has_text="ux1@example.com")).to_have_count(1)


def test_autocomplete_masks_personal_values_for_a_role_without_see_personal(events, signed_in_page):
    page = signed_in_page("operations")
    page.goto("/?q=&from=now-3h")
    box = page.get_by_label("Query")
    box.click()
    box.type("actor.email:")
    options = page.locator("#suggestions [role=option]")
    expect(options.first).to_contain_text("u***@example.com")
    expect(page.locator("#suggestions")).to_contain_text("masked")
    assert "ux1@example.com" not in page.locator("#suggestions").inner_text()
    options.first.click(force=True)   # a masked value (aria-disabled) is not put into the query
    expect(box).to_have_value("actor.email:")


def test_slash_focuses_the_query_escape_clears_it_enter_searches(events, signed_in_page):
    page = signed_in_page("operations")
    page.goto("/?q=ux&from=now-3h")
    page.locator("p.summary").click()
    page.keyboard.press("/")
    box = page.get_by_label("Query")
    expect(box).to_be_focused()
    expect(box).to_have_value("ux")   # the slash was not typed into it
    page.keyboard.press("Escape")
    expect(box).to_have_value("")
    box.type("ux deposit 7")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert args(page)["q"] == "ux deposit 7" and args(page)["from"] == "now-3h"


def test_dark_mode_follows_the_system(events, new_page, signed_in_page, live_server):
    user = live_server.create_user("operations")
    signed_in_page(user=user)
    light = new_page(storage_state=live_server.sessions[user.username], color_scheme="light")
    dark = new_page(storage_state=live_server.sessions[user.username], color_scheme="dark")
    background = "() => getComputedStyle(document.body).backgroundColor"
    brightness = lambda rgb: sum(int(x) for x in re.findall(r"\d+", rgb)[:3]) / 3  # noqa: E731
    for page in (light, dark):
        page.goto("/?q=ux&from=now-3h")
    assert brightness(light.evaluate(background)) > 200
    assert brightness(dark.evaluate(background)) < 60
    table = "() => getComputedStyle(document.querySelector('table.events')).backgroundColor"
    assert brightness(dark.evaluate(table)) < 60
    text = "() => getComputedStyle(document.querySelector('td.msg')).color"
    assert brightness(dark.evaluate(text)) > 150


def test_a_390_px_phone_has_no_horizontal_scroll(events, new_page, signed_in_page, live_server):
    user = live_server.create_user("administrator")
    signed_in_page(user=user)
    phone = new_page(storage_state=live_server.sessions[user.username], viewport={"width": 390, "height": 844},
                     is_mobile=True, has_touch=True, device_scale_factor=2)
    for path in ("/?q=ux&from=now-3h", "/?q=ux&from=now-3h&cols=@timestamp,service.name,actor.id,correlation.id,message"):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        expect(phone.get_by_label("Query")).to_be_visible()
        assert phone.get_by_label("Query").bounding_box()["width"] > 200
    phone.locator("details.timepicker > summary").click()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_favicon_is_linked_and_served(live_server, page):
    page.goto("/login")
    href = page.locator("link[rel=icon]").get_attribute("href")
    response = live_server.get(href)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/svg+xml")


def test_hostile_values_in_suggestions_are_only_text(live_server, events, signed_in_page):
    hostile = '<img src=x onerror="document.title=1">"><script>document.title=2</script>'
    live_server.ingest([{"@timestamp": stamp(5), "message": "hostile game", "event": {"id": "ux-hostile"},
                         "game": {"name": hostile}}])
    page = signed_in_page("security")
    page.goto("/?q=&from=now-3h")
    box = page.get_by_label("Query")
    box.click()
    box.type("game.name:")
    option = page.locator("#suggestions [role=option]").first
    expect(option.locator(".label")).to_have_text(hostile)
    assert page.locator("#suggestions img, #suggestions script").count() == 0
    option.click()
    expect(box).to_have_value('game.name:"' + hostile.replace('"', '\\"') + '" ')
    assert page.title() not in ("1", "2")


def test_the_results_table_shows_times_in_the_browsers_zone_with_utc_on_hover(events, new_page, signed_in_page,
                                                                              live_server):
    user = live_server.create_user("support")
    signed_in_page(user=user)
    page = new_page(storage_state=live_server.sessions[user.username], timezone_id="Asia/Kolkata")
    page.goto("/?q=ux&from=now-3h")
    cell = page.locator("td.ts time").first
    utc = datetime.fromisoformat(cell.get_attribute("datetime").replace("Z", "+00:00"))
    local = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    expect(cell).to_have_text(local.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}")
    assert cell.get_attribute("title") == utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d} UTC"
    expect(page.locator("th[data-zone-header]")).to_contain_text("UTC+05:30")
