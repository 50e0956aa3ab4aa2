"""Error groups in a real browser: the Errors page lists them (hostile titles as text), two are
merged with the checkboxes and the button, the merged group is resolved on its own page — with
no Content-Security-Policy violation or script error on the way."""
from __future__ import annotations

from playwright.sync_api import expect

HOSTILE = '<img src=x onerror="window.__pwned=1"> {{7*7}}'


def test_merge_and_resolve(live_server, signed_in_page):
    events = [{"service": {"name": "wallet-service", "version": "4.2.0"},
               "error": {"type": "TimeoutError", "message": f"timeout after {5000 + i} ms for round {83731 + i}"}}
              for i in range(5)]
    events += [{"service": {"name": "wallet-service"},
                "error": {"type": "TimeoutError", "message": f"deadline of {i} s passed for round {i}"}} for i in range(2)]
    events += [{"service": {"name": "bonus-service"}, "error": {"type": "HostileError", "message": HOSTILE}}]
    assert live_server.ingest(events)["accepted"] == 8
    page = signed_in_page("technical")
    page.goto("/errors")
    groups = page.locator("table.groups")
    expect(groups.get_by_text("TimeoutError: timeout after <num> ms for round <num>")).to_be_visible()
    expect(groups.get_by_text("HostileError: <img src=x onerror=<str>> {{<num>*<num>}}")).to_be_visible()
    assert page.evaluate("window.__pwned") is None

    first = groups.locator("tr", has_text="timeout after")
    second = groups.locator("tr", has_text="deadline of")
    first.get_by_role("checkbox").check()
    second.get_by_role("checkbox").check()
    page.get_by_role("button", name="Merge the chosen groups").click()
    expect(page.get_by_text("Merged 1 group(s) into group")).to_be_visible()
    expect(page.locator("ul.fingerprints li")).to_have_count(2)
    expect(page.locator("table.releases").get_by_text("4.2.0")).to_be_visible()

    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".summary .group-status-resolved")).to_have_text("resolved")
    page.goto("/errors?status=resolved")
    expect(page.locator("table.groups tr.group-row")).to_have_count(1)
    expect(page.locator("table.groups tr.group-row td.num")).to_have_text("7")   # 5 + 2 merged
