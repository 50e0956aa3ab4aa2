"""The ingest status page in a real Chromium against a real `platlogs serve` (two gunicorn
workers): what several requests sent is counted once, summed over the workers; a hostile key
name is shown as text; no script error, no CSP violation (the fixtures fail the test on either);
a role without view_ingest gets 403."""
from __future__ import annotations

import time

import requests
from playwright.sync_api import expect

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
REQUESTS, PER_REQUEST = 12, 25


def _status(live_server, read_key: str) -> dict:
    return live_server.get("/api/v1/ingest/status", headers={"Authorization": f"Bearer {read_key}"}).json()


def test_the_page_sums_the_workers_and_escapes_source_names(live_server, signed_in_page):
    key = live_server.cli("keys", "create", "--scope", "ingest", "--name", HOSTILE).stdout.strip()
    read_key = live_server.cli("keys", "create", "--scope", "read", "--name", "status reader").stdout.strip()
    for i in range(REQUESTS):      # a new connection each: the workers share them
        body = "".join(f'{{"message": "status page {i}-{j}"}}\n' for j in range(PER_REQUEST)) + "{bad\n"
        r = requests.post(live_server.url + "/api/v1/events/bulk", data=body.encode(), timeout=30,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson",
                                   "Connection": "close"})
        assert r.status_code == 207, r.text
    deadline = time.monotonic() + 15
    while True:       # each worker writes its counters within a second
        status = _status(live_server, read_key)
        bulk = next((p for p in status["protocols"] if p["protocol"] == "native-bulk"), None)
        if bulk and bulk["accepted"] == REQUESTS * PER_REQUEST or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert bulk["accepted"] == REQUESTS * PER_REQUEST and bulk["refused_by"] == {"bad_json": REQUESTS}
    assert bulk["requests"] == REQUESTS
    assert sum(1 for p in status["processes"] if p["alive"]) >= 1

    page = signed_in_page("operations")
    page.goto("/ingest/status")
    expect(page.locator("h1")).to_have_text("Ingest status")
    row = page.locator("table.ingest-protocols tr[data-protocol='native-bulk']")
    expect(row).to_contain_text(f"{REQUESTS * PER_REQUEST:,}")
    expect(row).to_contain_text("bad_json")
    source = page.locator("table.ingest-sources td.source", has_text="<img src=x")
    expect(source).to_have_count(1)                 # shown as text, not made into an element
    expect(source).to_contain_text("<script>")
    assert page.locator("table.ingest-sources img").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("table.ingest-refusals")).to_contain_text("bad_json")
    expect(page.locator("nav.main-nav a", has_text="Ingest")).to_have_attribute("aria-current", "page")


def test_a_role_without_view_ingest_is_refused(live_server, signed_in_page):
    page = signed_in_page("support")
    response = page.goto("/ingest/status")
    assert response.status == 403
    expect(page.locator("nav.main-nav a", has_text="Ingest")).to_have_count(0)
