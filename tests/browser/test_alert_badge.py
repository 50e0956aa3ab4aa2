"""The navigation's badge of firing alerts, in a real Chromium against a real server whose
scheduler fires a rule (its own module: the server's short cache of the count starts empty)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

RULE = """\
id: badge-test
name: Badge test rule
kind: threshold
query: "message:badgeword"
window: 1h
threshold: 0
severity: warning
"""


def test_the_badge_appears_when_an_alert_is_firing(live_server, signed_in_page, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "badge.yaml").write_text(RULE)
    two_minutes_ago = (datetime.now(timezone.utc) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    live_server.ingest([{"@timestamp": two_minutes_ago, "message": "badgeword happened", "event": {"id": "badge-1"}}])
    ran = live_server.cli("scheduler", "--once", "--rules", str(rules))
    assert " 0 change(s)" not in ran.stdout, ran.stdout + ran.stderr   # the alert opened and fired

    page = signed_in_page("operations")
    for path in ("/", "/errors", "/alerts"):
        page.goto(path)
        badge = page.locator(".main-nav .badge")
        expect(badge).to_have_text("1")
        expect(badge).to_have_attribute("title", "1 alert firing")
    support = signed_in_page("support")   # no view_alerts: no entry, no badge
    support.goto("/")
    expect(support.locator(".main-nav")).to_be_visible()
    expect(support.locator(".main-nav .badge")).to_have_count(0)
