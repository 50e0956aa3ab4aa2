"""Signing in and out through the real forms, in Chromium."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect


def path_of(page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fill_login(page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_signing_in_through_the_form_lands_on_the_search_page(live_server, page):
    user = live_server.create_user("support")
    page.goto("/")
    assert path_of(page).startswith("/login")  # signed out: the search page sends us to sign in
    fill_login(page, user.username, user.password)
    assert path_of(page) == "/"
    expect(page.locator(".top .who")).to_have_text(f"{user.username} · support")
    expect(page.get_by_label("Query")).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Search")).to_be_visible()


def test_sign_in_returns_to_the_page_asked_for(live_server, page):
    user = live_server.create_user("technical")
    page.goto("/?q=log.level%3Aerror&from=now-1h")
    assert urlsplit(page.url).path == "/login"
    fill_login(page, user.username, user.password)
    landed = urlsplit(page.url)
    assert landed.path == "/" and parse_qs(landed.query) == {"q": ["log.level:error"], "from": ["now-1h"]}
    expect(page.get_by_label("Query")).to_have_value("log.level:error")


def test_a_wrong_password_shows_the_error_and_stays_on_login(live_server, page, browser_log):
    browser_log.expect(r"status of 401")  # the refused sign-in is answered 401; Chromium logs that
    user = live_server.create_user("operations")
    page.goto("/login")
    fill_login(page, user.username, user.password + "x")
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    fill_login(page, "nobody-such", "whatever-password")  # an unknown name reads the same
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.goto("/")
    assert urlsplit(page.url).path == "/login"  # still signed out
    fill_login(page, user.username, user.password)  # and the right password still works
    assert path_of(page) == "/"


def test_first_sign_in_forces_a_password_change_then_lands_on_search(live_server, page, browser_log):
    browser_log.expect(r"status of 401")
    user = live_server.create_user("security", must_change=True)
    page.goto("/login")
    fill_login(page, user.username, user.password)
    assert urlsplit(page.url).path == "/account/password"
    expect(page.get_by_text("first sign-in with a one-time password")).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections")).to_have_count(0)  # no way around it

    page.goto("/")  # every page sends us back until the password is chosen
    assert urlsplit(page.url).path == "/account/password"

    def change(current: str, new: str, repeat: str) -> None:
        page.get_by_label("Current password").fill(current)
        page.get_by_label("New password", exact=True).fill(new)
        page.get_by_label("Repeat new password").fill(repeat)
        with page.expect_navigation():
            page.get_by_role("button", name="Change password").click()

    change(user.password, "long-enough-1", "long-enough-2")
    expect(page.get_by_role("alert")).to_have_text("The new passwords differ.")
    change("not-the-current", "long-enough-1", "long-enough-1")
    expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")

    change(user.password, "my-own-password-1", "my-own-password-1")
    assert urlsplit(page.url).path == "/"
    expect(page.get_by_text("Password changed.")).to_be_visible()
    expect(page.get_by_label("Query")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    fill_login(page, user.username, user.password)  # the one-time password is gone
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    fill_login(page, user.username, "my-own-password-1")
    assert path_of(page) == "/"


def test_the_admin_one_time_password_from_serve_works_once_changed(live_server, signed_in_page):
    assert live_server.admin is not None, "platlogs serve printed no one-time password on first start"
    page = signed_in_page(user=live_server.admin)  # sign_in handles the forced change
    assert path_of(page) == "/"
    expect(page.locator(".top .who")).to_have_text("admin · administrator")


def test_sign_out(live_server, signed_in_page):
    page = signed_in_page("auditor")
    expect(page.locator(".top .who")).to_contain_text(page.platlogs_user.username)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator(".top .who")).to_have_count(0)
    page.goto("/")
    assert urlsplit(page.url).path == "/login"  # the session is really gone
    page.go_back()  # and the browser's back button does not bring the search page back to life
    page.reload()
    assert urlsplit(page.url).path == "/login"
