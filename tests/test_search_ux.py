"""The search page as people expect it from Kibana Discover / Grafana Explore (issue 13, item 6),
through the Flask test client: suggestions (field names, top values, masked by role), a time
picker that keeps the query, ISO times after a zoom, the syntax hint's fields, the favicon and the
navigation's badge of firing alerts. The browser side is in tests/browser/test_search_ux.py."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from app import badges
from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.query import parse
from app.storage import SearchRequest
from conftest import csrf_token

DAY = "2026-11-20"
WINDOW = {"from": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}


@pytest.fixture
def world(client, ingest_headers):
    events = [{"@timestamp": f"{DAY}T{1 + i // 60:02d}:{i % 60:02d}:00.000Z", "event": {"id": f"u-{i}"},
               "message": f"deposit {i}", "service": {"name": "payments" if i % 3 else "wallet"},
               "actor": {"type": "player", "id": f"p-{i % 4}", "email": f"player{i % 4}@example.com",
                         "ip": f"192.0.2.{i % 4}"}}
              for i in range(40)]
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).json["accepted"] == 40
    return events


def sign_in(client, services, username: str, role: str):
    services.meta.create_user(username, role, f"{username}-password-1")
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"username": username, "password": f"{username}-password-1",
                                           "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    return client


# -- suggestions -------------------------------------------------------------------------------

def test_field_name_suggestions(signed_in):
    answer = signed_in.get("/api/v1/suggest", query_string={"prefix": "actor.i"}).json
    names = [f["name"] for f in answer["fields"]]
    assert names[:2] == ["actor.id", "actor.ip"]
    assert all("actor.i" in n for n in names)
    ip = next(f for f in answer["fields"] if f["name"] == "actor.ip")
    assert ip["personal"] is True and ip["values"] is True
    everything = signed_in.get("/api/v1/suggest").json["fields"]
    assert {"message", "payment.transaction_id", "log.level"} <= {f["name"] for f in everything}
    assert not any(f["values"] for f in everything if f["name"] == "message")   # words: no top values


def test_top_values_with_counts_narrowed_by_prefix(signed_in, world):
    answer = signed_in.get("/api/v1/suggest", query_string={"field": "service.name", **WINDOW}).json
    assert answer["field"] == "service.name" and answer["masked"] is False
    assert answer["values"] == [{"value": "payments", "count": 26}, {"value": "wallet", "count": 14}]
    narrowed = signed_in.get("/api/v1/suggest", query_string={"field": "service.name", "prefix": "wa", **WINDOW}).json
    assert [v["value"] for v in narrowed["values"]] == ["wallet"]
    ids = signed_in.get("/api/v1/suggest", query_string={"field": "actor.id", "prefix": "P-", **WINDOW}).json
    assert sorted(v["value"] for v in ids["values"]) == ["p-0", "p-1", "p-2", "p-3"]   # any case


def test_personal_values_are_masked_for_a_role_without_see_personal(signed_in, world):
    answer = signed_in.get("/api/v1/suggest", query_string={"field": "actor.email", **WINDOW}).json
    assert answer["masked"] is True
    assert answer["values"] == [{"value": "p***@example.com", "count": 40}]   # four values mask alike: merged
    body = str(answer)
    assert "player1@example.com" not in body and "192.0.2" not in body
    # a prefix does not narrow a masked field (it would tell a value apart a character at a time)
    narrowed = signed_in.get("/api/v1/suggest", query_string={"field": "actor.email", "prefix": "player1", **WINDOW}).json
    assert narrowed["values"] == answer["values"]
    ips = signed_in.get("/api/v1/suggest", query_string={"field": "actor.ip", **WINDOW}).json
    assert ips["values"] == [{"value": "192.0.*.*", "count": 40}]


def test_personal_values_are_shown_to_security(client, services, world):
    sign_in(client, services, "sam", "security")
    answer = client.get("/api/v1/suggest", query_string={"field": "actor.email", "prefix": "player1", **WINDOW}).json
    assert answer["masked"] is False and answer["values"] == [{"value": "player1@example.com", "count": 10}]


def test_a_read_key_gets_masked_values_too(client, world, read_headers):
    answer = client.get("/api/v1/suggest", query_string={"field": "actor.email", **WINDOW}, headers=read_headers).json
    assert answer["masked"] is True and "player0@example.com" not in str(answer)


def test_suggestions_need_the_search_permission(client, world):
    assert client.get("/api/v1/suggest", query_string={"field": "service.name"}).status_code == 401


def test_bad_suggestion_requests_are_400(signed_in):
    assert signed_in.get("/api/v1/suggest", query_string={"field": "no.such.field"}).status_code == 400
    assert signed_in.get("/api/v1/suggest", query_string={"field": "message"}).status_code == 400
    assert signed_in.get("/api/v1/suggest", query_string={"field": "service.name", "from": "yesterday"}).status_code == 400


def test_value_suggestions_are_in_the_reading_trail(signed_in, services, world):
    signed_in.get("/api/v1/suggest", query_string={"field": "service.name", **WINDOW})
    [event] = services.trail.search(SearchRequest(query=parse("event.action:suggest"))).hits
    assert event["labels"]["field"] == "service.name"


# -- the page ----------------------------------------------------------------------------------

def test_a_time_preset_keeps_the_query_typed_in_the_box(signed_in, world):
    response = signed_in.get("/", query_string={"q": "deposit wallet", "preset": "now-7d", **WINDOW})
    assert response.status_code == 302
    location = html.unescape(response.headers["Location"])
    assert "q=deposit+wallet" in location and "from=now-7d" in location and "to=" not in location
    assert "preset" not in location
    everything = signed_in.get("/", query_string={"q": "deposit", "preset": "all"})
    assert everything.status_code == 302 and re.search(r"[?&]from=(&|$)", everything.headers["Location"])


def test_one_form_holds_the_query_the_presets_and_the_absolute_range(signed_in, world):
    page = signed_in.get("/", query_string={"q": "deposit", **WINDOW}).get_data(as_text=True)
    form = re.search(r'<form[^>]*id="search-form".*?</form>', page, re.S).group(0)
    assert 'name="q"' in form and 'name="from"' in form and 'name="to"' in form
    assert re.search(r'<button[^>]*name="preset"[^>]*value="now-15m"', form)
    assert re.search(r'<button[^>]*type="submit"[^>]*>Apply</button>', form)
    # Enter submits with the form's first submit button: it must be Search, not a preset
    first = re.search(r"<button[^>]*>([^<]*)</button>", form).group(1)
    assert first == "Search"
    assert 'id="range-form"' not in page   # no second form holding a stale copy of the query


def test_histogram_links_use_iso_times(signed_in, world):
    page = signed_in.get("/", query_string={"q": "", **WINDOW}).get_data(as_text=True)
    hrefs = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)" data-start-ms=', page)]
    assert hrefs and all(re.search(r"from=\d{4}-\d\d-\d\dT\d\d(%3A|:)\d\d(%3A|:)\d\d", h) for h in hrefs)
    assert not any(re.search(r"(from|to)=\d{10,}", h) for h in hrefs)


def test_times_are_marked_for_the_browser_zone(signed_in, world):
    page = signed_in.get("/", query_string={"q": "", **WINDOW}).get_data(as_text=True)
    assert '<time datetime="2026-11-20T00:00:00.000Z"' in page


def test_the_syntax_hint_uses_fields_the_data_has():
    from app.demo.generator import generate
    seen: set[str] = set()

    def walk(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict) and key != "labels":
                walk(value, f"{prefix}{key}.")
            else:
                seen.add(prefix + key)
    for event in generate(3000, days=1):
        walk(event)
    template = (Path(__file__).parent.parent / "app/web/templates/search.html").read_text()
    hint = re.search(r'<details class="help".*?</details>', template, re.S).group(0)
    fields = set(re.findall(r"<code>-?([a-z_]+(?:\.[a-z_]+)+):", hint))
    assert {"actor.ip", "actor.email", "payment.transaction_id"} <= fields
    assert fields <= seen, fields - seen
    assert "source.ip" not in hint


def test_favicon_is_linked_and_served(client, signed_in):
    page = signed_in.get("/").get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    login = client.get("/login").get_data(as_text=True)
    assert 'rel="icon"' in login


# -- the badge of firing alerts ---------------------------------------------------------------

def fire(services, rule_id: str = "badge-rule", groups=("a", "b")) -> None:
    rule = Rule(id=rule_id, name="Badge test", kind="threshold", query="*", window_s=300, threshold=0,
                group_by="service.name")
    findings = [Finding(rule_id=rule_id, group=g, state="alert", value=1, threshold=0) for g in groups]
    Alerts(services.meta).apply(rule, Evaluation(rule=rule, now_ms=1_700_000_000_000, findings=findings),
                                1_700_000_000_000)


def test_firing_count_is_cached_briefly(services):
    badges.clear_cache()
    clock = [100.0]
    assert badges.firing_count(services.meta, clock=lambda: clock[0]) == 0
    fire(services)
    assert badges.firing_count(services.meta, clock=lambda: clock[0]) == 0   # cached
    clock[0] += badges.TTL_S + 1
    assert badges.firing_count(services.meta, clock=lambda: clock[0]) == 2


def test_the_badge_shows_on_every_page_for_roles_that_see_alerts(signed_in, services, world):
    badges.clear_cache()
    fire(services)
    for path in ("/", "/errors", "/account/sessions"):
        page = signed_in.get(path).get_data(as_text=True)
        badge = re.search(r'<span class="badge"[^>]*>(\d+)</span>', page)
        assert badge and badge.group(1) == "2", path
        assert 'title="2 alerts firing"' in page


def test_no_badge_without_firing_alerts_or_for_roles_that_cannot_see_alerts(client, services, world):
    badges.clear_cache()
    sign_in(client, services, "sue", "support")
    fire(services)
    assert 'class="badge"' not in client.get("/").get_data(as_text=True)


def test_epoch_milliseconds_in_the_url_become_iso_times(signed_in, world):
    response = signed_in.get("/", query_string={"q": "deposit", "from": "1763596800000", "to": "1763640000000"})
    assert response.status_code == 302
    location = html.unescape(response.headers["Location"])
    assert "from=2025-11-20T00%3A00%3A00.000Z" in location or "from=2025-11-20T00:00:00.000Z" in location
    assert "q=deposit" in location and not re.search(r"(from|to)=\d{10,}", location)
