"""One's own sessions, in Chromium: signed in from two browsers, the first ends the second from
/account/sessions (reached through one's name at the top right); the second is signed out."""
from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_ending_ones_other_session_signs_that_browser_out(live_server, signed_in_page):
    laptop = signed_in_page("support")
    user = laptop.platlogs_user
    phone = signed_in_page(user=user, reuse=False)      # a second sign-in: a second session
    laptop.goto("/")
    laptop.locator(".top .who").click()
    assert urlsplit(laptop.url).path == "/account/sessions"
    expect(laptop.get_by_text("this session")).to_be_visible()
    expect(laptop.locator("table.admin tbody tr")).to_have_count(2)
    with laptop.expect_navigation():
        laptop.get_by_role("button", name="Sign out all other sessions").click()
    expect(laptop.get_by_text("1 other session signed out.")).to_be_visible()
    expect(laptop.locator("table.admin tbody tr")).to_have_count(1)
    phone.goto("/")
    assert urlsplit(phone.url).path == "/login"          # ended on the server
    laptop.goto("/")
    assert urlsplit(laptop.url).path == "/"              # the one that acted goes on
