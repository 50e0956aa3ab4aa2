"""Integration health in a real Chromium against a real server filled by `platlogs demo`: a
manager signs in, lands on the dashboard, sees the demo's outage on the first tile, opens the
provider's page and finds its charts drawn and its incident listed — with no script error and no
CSP violation (the fixtures fail the test on either)."""
from __future__ import annotations

import random

import pytest
from playwright.sync_api import expect

EVENTS, SEED = 6_000, 42


def outage_provider() -> str:
    """The provider the demo's outage hits: drawn before anything that depends on the clock."""
    from app.demo.generator import _Sim
    sim = _Sim(EVENTS, 0, 2 * 86_400_000, random.Random(SEED))
    sim.incidents(1.0)
    return sim.out_prov


@pytest.fixture(scope="module")
def demo_server(live_server):
    live_server.cli("demo", "--events", str(EVENTS), "--days", "2", "--seed", str(SEED))
    return live_server


def test_a_manager_sees_the_outage_at_a_glance_and_opens_the_provider(demo_server, signed_in_page):
    prov = outage_provider()
    page = signed_in_page("manager")
    expect(page).to_have_url(demo_server.url + "/health")
    first = page.locator(".tile").first
    expect(first).to_have_attribute("data-provider", prov)
    expect(first).to_contain_text("Recovered")
    expect(page.locator(".health-group h2").first).to_be_visible()
    expect(page.locator(".tile-spark .uplot").first).to_be_visible()     # sparklines drawn by charts.js
    assert page.locator(".tile").count() >= 10
    first.click()
    expect(page.locator("h1")).to_contain_text(prov)
    expect(page.locator(".charts .uplot")).to_have_count(3)
    incidents = page.locator("table.incidents tbody tr")
    expect(incidents).to_have_count(1)
    expect(incidents.first).to_contain_text("down")
    href = incidents.first.locator("a", has_text="failed calls").get_attribute("href")
    assert href.startswith("/?") and "integration.provider" in href
    page.locator(".presets a", has_text="30 days").click()
    expect(page.locator(".charts .uplot")).to_have_count(3)
    expect(page.locator("table.incidents tbody tr")).to_have_count(1)


def test_the_health_entry_is_in_the_navigation_for_engineers_too(demo_server, signed_in_page):
    page = signed_in_page("technical")
    page.goto("/")
    page.locator(".main-nav a", has_text="Health").click()
    expect(page.locator("h1")).to_have_text("Integration health")
