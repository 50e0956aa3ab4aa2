"""Hostile log data in a real browser: events are written by anyone who can reach the ingest API
(players' names, user agents, URLs, provider callbacks), so every field must reach the page as
text — never as markup, script, a link that runs code, or a template expression.

Each payload goes into message, actor.id, actor.name, labels and url.path of an event of its own;
the pages are then opened as a `security` user (who sees personal fields unmasked). Checks on
every page: nothing ran (window.__pwned), no element or attribute came from the data (no <img
src=x>, no on* attributes, no inline <script>, no javascript: links), the payload is there as
visible text, and — through the `page` fixture — no CSP violation or JS error was reported.
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

PAYLOADS = {
    "script": "<script>window.__pwned=1</script>",
    "img": '"><img src=x onerror="window.__pwned=1">',
    "svg": "'><svg onload=window.__pwned=1><x-pwn>injected</x-pwn>",
    "jslink": "javascript:window.__pwned=1//",
    "anchor": '<a href="javascript:window.__pwned=1">click me</a>',
    "long": "W" * 10_000,
    "rtl": "invoice_\u202egnp.exe \u202bmirrored\u202c \u200fend",
    "jinja": "{{7*7}}",
    "jinja2": "{% raw %}${7*7} {{ config }}",
    "formula": "=cmd|' /C calc'!A0",
}
SHORT = {name: p for name, p in PAYLOADS.items() if len(p) <= 200}


KEYWORD_MAX = 8192  # keyword fields are refused past this; the message (text) takes the whole


def hostile_event(name: str, payload: str) -> dict:
    keyword = payload[:KEYWORD_MAX]
    return {
        "message": payload,
        "log": {"level": "warning"},
        "event": {"id": f"hostile-{name}", "action": "login_failed"},
        "actor": {"type": "player", "id": keyword, "name": keyword},
        "labels": {"payload": keyword},
        "url": {"path": keyword},
        "service": {"name": "hostile-tests"},
    }


@pytest.fixture(scope="module")
def hostile(live_server):
    answer = live_server.ingest([hostile_event(name, p) for name, p in PAYLOADS.items()])
    assert answer["accepted"] == len(PAYLOADS), answer
    return live_server.create_user("security")


@pytest.fixture
def security_page(signed_in_page, hostile):
    return signed_in_page(user=hostile)


def assert_nothing_injected(page) -> None:
    """Nothing from the data became markup or ran."""
    assert page.evaluate("typeof window.__pwned") == "undefined", "a payload ran"
    found = page.evaluate("""() => {
      const bad = [];
      for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
          if (attr.name.toLowerCase().startsWith('on')) bad.push(`${el.tagName} has ${attr.name}`);
        }
      }
      for (const s of document.scripts) {
        const src = s.getAttribute('src');
        if (!src) bad.push('inline <script>: ' + s.textContent.slice(0, 80));
        else if (new URL(s.src).origin !== location.origin || !new URL(s.src).pathname.startsWith('/static/'))
          bad.push('script from ' + s.src);
      }
      for (const img of document.images) bad.push('<img src=' + img.getAttribute('src') + '>');
      for (const el of document.querySelectorAll('iframe, object, embed, frame, base, meta[http-equiv]'))
        bad.push('<' + el.tagName.toLowerCase() + '>');
      for (const el of document.querySelectorAll('[href], [*|href]')) {  // HTML and SVG links
        const href = el.getAttribute('href') ?? el.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
        if (new URL(href, location.href).origin !== location.origin) bad.push('link to ' + href.slice(0, 80));
      }
      for (const el of document.querySelectorAll('[action], [formaction]'))
        if (!(el.getAttribute('action') || el.getAttribute('formaction') || '').match(/^(\\/|\\?|$)/))
          bad.push('form to ' + (el.getAttribute('action') || el.getAttribute('formaction')));
      for (const el of document.querySelectorAll('x-pwn, svg[onload]')) bad.push('<' + el.tagName.toLowerCase() + '>');
      return bad;
    }""")
    assert found == [], f"markup from log data reached the page at {page.url}: {found}"


def assert_no_sideways_scroll(page) -> None:
    """A 10,000-character word must wrap, not widen the page."""
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"page is {widths[0]}px wide in a {widths[1]}px window at {page.url}"


def visible_text(page) -> str:
    return page.evaluate("document.body.innerText")


def test_search_page_shows_hostile_events_as_text(security_page):
    page = security_page
    page.goto("/?q=service.name:hostile-tests")
    expect(page.get_by_text("=cmd|' /C calc'!A0", exact=True).first).to_be_visible()
    assert_nothing_injected(page)
    text = visible_text(page)
    for name, payload in SHORT.items():
        assert payload.strip() in text, f"payload {name!r} is not shown as text"
    assert PAYLOADS["long"][:200] in text  # the long word is there (shortened, in the table)
    jinja_cell = page.get_by_text("{{7*7}}", exact=True).first
    expect(jinja_cell).to_be_visible()  # the text itself, not 49
    cells = page.locator("tr", has=jinja_cell).locator("td:not(.ts)").all_inner_texts()
    assert "49" not in [c.strip() for c in cells], cells


@pytest.mark.parametrize("name", PAYLOADS)
def test_event_page_shows_hostile_fields_as_text(security_page, name):
    page, payload = security_page, PAYLOADS[name]
    response = page.goto(f"/events/hostile-{name}")
    assert response.status == 200
    assert_nothing_injected(page)
    text = visible_text(page)

    def shown(value: str) -> int:
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]  # a page may show the event as JSON
        return text.count(value) + (text.count(escaped) if escaped != value else 0)

    assert shown(payload) >= 1, f"the message {name!r} is not shown in full on the event page"
    # message, actor.id, actor.name, labels.payload and url.path: at least four of them in full
    count = shown(payload[:KEYWORD_MAX])
    assert count >= 4, f"payload {name!r} appears {count} times as text on the event page"


@pytest.mark.parametrize("path", [pytest.param("/?q=service.name:hostile-tests", id="search"),
                                  pytest.param("/events/hostile-long", id="event")])
def test_a_10k_character_word_wraps_instead_of_widening_the_page(security_page, path):
    page = security_page
    assert page.goto(path).status == 200
    assert_no_sideways_scroll(page)


@pytest.mark.parametrize("name", SHORT)
def test_hostile_text_typed_into_the_search_box(security_page, name):
    """The query is echoed back (the box, the title, a syntax error's caret line): as text."""
    page, payload = security_page, PAYLOADS[name]
    page.goto("/")
    page.get_by_label("Query").fill(payload)
    with page.expect_navigation() as navigation:
        page.get_by_label("Query").press("Enter")
    answer = navigation.value
    assert answer.headers["content-type"].startswith("text/html"), \
        f"the search page answered {answer.status} {answer.headers['content-type']}: {answer.text()[:200]}"
    expect(page.get_by_label("Query")).to_have_value(payload)
    assert_nothing_injected(page)


def test_links_built_from_hostile_values_stay_on_the_site(security_page):
    """Filter links carry the value in their query string; following one searches for it."""
    page = security_page
    page.goto("/?q=service.name:hostile-tests")
    hrefs = page.evaluate("[...document.links].map(a => a.href)")
    assert hrefs and all(h.startswith(page.url.split("/?")[0] + "/") for h in hrefs), hrefs
    link = page.get_by_role("link", name=PAYLOADS["jslink"], exact=True).first
    expect(link).to_be_visible()
    with page.expect_navigation():
        link.click()
    assert page.url.startswith("http://127.0.0.1")
    assert_nothing_injected(page)
    expect(page.get_by_text(PAYLOADS["jslink"], exact=True).first).to_be_visible()


def test_the_harness_notices_an_injected_script(page, browser_log, live_server):
    """The checks above are only worth something if they can fail: serve a page that does have
    an inline script under the app's CSP, and see the violation collected."""
    csp = live_server.get("/login").headers["Content-Security-Policy"]
    page.route("**/injected", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/html", "Content-Security-Policy": csp},
        body='<p>x</p><script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'))
    page.goto("/injected")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"  # the CSP held...
    assert browser_log.csp, "the CSP violation was not collected"  # ...and the harness saw it
    with pytest.raises(AssertionError, match="inline <script>"):
        assert_nothing_injected(page)
    browser_log.expect("Content.Security.Policy")  # expected here: do not fail this test for it
