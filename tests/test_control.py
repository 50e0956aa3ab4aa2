"""The six control views (Event Timeline, Error History, User Actions, Admin Operations, API
Activity, Integration Status) on a small known story per view: the figures they show, their
"open as a search" link (followed: the search page finds as many events), one reading-trail line
per page view, masking, hostile values escaped, bad input answered inline (never a 500).
Every page test runs on each store backend (OpenSearch when PLATLOGS_TEST_OPENSEARCH is set)."""
from __future__ import annotations

import html
import re

import pytest

from app.query import parse
from app.search import control, control_admin, control_health
from app.search.figures import latency, percentile
from app.search.window import default_window, parse_window
from app.storage import SearchRequest

HOSTILE = "<script>alert(1)</script>"
DAY = "2026-11-20"


def at(hh: int, mm: int, ss: int = 0, ms: int = 0) -> str:
    return f"{DAY}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def window(hh: int, hours: int = 1) -> dict:
    """An absolute window [hh:00, hh+hours:00) on the story's day."""
    return {"from": at(hh, 0), "to": at(hh + hours, 0)}


def api(path, status, duration, when, **extra) -> dict:
    return {"@timestamp": when, "message": f"GET {path} {status}", "event": {"component": "api", "type": "api_request"},
            "http": {"response": {"status_code": status}, "duration": duration}, "url": {"path": path},
            "service": {"name": "api-gateway"}, **extra}


def integ(provider, status, duration, when, outcome=None, **extra) -> dict:
    event = {"@timestamp": when, "message": f"{provider} call: {status}",
             "event": {"component": "integration", "type": "provider_request"},
             "integration": {"provider": provider, "status": status, "duration": duration}, **extra}
    if outcome:
        event["event"]["outcome"] = outcome
    return event


def err(etype, message, when, level="error", service="wallet-service", code=None, **extra) -> dict:
    event = {"@timestamp": when, "message": f"{etype}: {message}", "log": {"level": level},
             "error": {"type": etype, "message": message}, "service": {"name": service}, **extra}
    if code:
        event["error"]["code"] = code
    return event


# -- the stories, each in its own hour of the day -------------------------------------------

ERRORS = [  # 10:00-11:00
    err("DbError", "connection refused", at(10, 5), code="E1"),
    err("DbError", "connection refused", at(10, 10), code="E1"),
    err("TimeoutError", "upstream timed out", at(10, 20), level="critical", service="payment-service"),
    err("TimeoutError", "upstream timed out", at(10, 30), level="info", service="payment-service",
        event={"component": "error", "type": "system_error"}),
    err("DbError", "deadlock detected", at(10, 40), code="E2"),
    err("ValueError", HOSTILE, at(10, 50), service=HOSTILE),
    {"@timestamp": at(10, 55), "message": "disk 80% full", "log": {"level": "warning"}},   # not an error
]

API = [  # 12:00-13:00: /a 10 requests, /b 5, the hostile route 1
    *[api("/api/v1/a", 404 if i == 8 else 500 if i == 9 else 200, 10.0 * (i + 1), at(12, i)) for i in range(10)],
    *[api("/api/v1/b", status, duration, at(12, 20 + i))
      for i, (status, duration) in enumerate([(200, 5), (301, 5), (200, 5), (503, 5), (200, 1000)])],
    api("/x/" + HOSTILE, 200, 1, at(12, 40)),
]

INTEGRATIONS = [  # 14:00-15:00, the window's last 15 minutes from 14:45
    # AcmePay: 11 events, 3 failures (timeout, error, open circuit) -> failing; a declined card is an
    # answer, not a failure (the same definition as the shipped alert rule)
    *[integ("AcmePay", "ok", 100, at(14, 10 + i)) for i in range(7)],
    integ("AcmePay", "declined", 150, at(14, 20), outcome="failure"),
    integ("AcmePay", "timeout", 30000, at(14, 40)),
    integ("AcmePay", "error", 200, at(14, 45)),
    {**integ("AcmePay", "circuit_open", 300, at(14, 50)), "message": "AcmePay refused: " + HOSTILE},
    # SlowGames: 20 events, durations 10..200, 2 failures -> degraded (10 %)
    *[integ("SlowGames", "error" if i in (3, 4) else "ok", 10.0 * (i + 1), at(14, 30, 2 * i)) for i in range(20)],
    {**integ("SlowGames", "ok", 5, at(14, 58)), "integration": {"provider": "SlowGames", "status": "ok"}},
    # QuietKYC: 5 events, nothing after 14:30 -> silent
    *[integ("QuietKYC", "ok", 50, at(14, 26 + i), correlation={"id": "kyc-1"}) for i in range(5)],
    # GoodSMS: 10 calls -> ok
    *[integ("GoodSMS", "ok", 10.0 * (i + 1), at(14, 50 + i)) for i in range(10)],
    integ(HOSTILE, "ok", 1, at(14, 59)),
]

ADMIN = [  # 16:00-17:00
    {"@timestamp": at(16, 1), "message": "emp-7 set deposit limit of p-1 to 250",
     "event": {"component": "admin_action", "type": "profile_change", "action": "limit_changed", "outcome": "success"},
     "actor": {"type": "employee", "id": "emp-7", "name": "Eve Seven"}, "target": {"type": "player", "id": "p-1"},
     "changes": [{"field": "deposit_limit", "old": 100, "new": 250}]},
    {"@timestamp": at(16, 2), "message": "emp-7 approved KYC of p-1",
     "event": {"component": "admin_action", "type": "profile_change", "action": "kyc_approved"},
     "actor": {"type": "employee", "id": "emp-7"}, "target": {"type": "player", "id": "p-1"},
     "changes": [{"field": "kyc_status", "from": "pending", "to": "verified"}]},
    {"@timestamp": at(16, 3), "message": "emp-8 changed the e-mail of p-2",
     "event": {"component": "admin_action", "type": "profile_change", "action": "email_changed"},
     "actor": {"type": "employee", "id": "emp-8"}, "target": {"type": "player", "id": "p-2"},
     "changes": [{"field": "email", "old": "old.address@example.com", "new": "new.address@example.org"}]},
    {"@timestamp": at(16, 4), "message": "emp-8 added a note",
     "event": {"component": "admin_action", "type": "other", "action": "note_added"},
     "actor": {"type": "employee", "id": "emp-8"}, "target": {"type": "player", "id": "p-3"},
     "changes": [{"field": "note", "old": HOSTILE, "new": "fine"}]},
    {"@timestamp": at(16, 5), "message": "emp-8 viewed player p-1",   # a read, not an operation
     "event": {"component": "admin_action", "type": "access", "action": "player_viewed"},
     "actor": {"type": "employee", "id": "emp-8"}, "target": {"type": "player", "id": "p-1"}},
]

JANE = {"type": "player", "id": "p-42", "email": "jane.doe@example.com", "name": "Jane Doe"}
PLAYER = [  # 18:00-19:00
    {"@timestamp": at(18, 0), "message": "Player p-42 logged in",
     "event": {"component": "user_activity", "type": "login", "action": "login", "outcome": "success"}, "actor": JANE},
    {"@timestamp": at(18, 1), "message": "Login failed: invalid password",
     "event": {"component": "user_activity", "type": "login", "action": "login_failed", "outcome": "failure"},
     "actor": JANE},
    {"@timestamp": at(18, 5), "message": "Deposit of 50 EUR",
     "event": {"component": "user_activity", "type": "payment", "action": "deposit", "outcome": "success"},
     "actor": {"type": "player", "id": "p-42"}, "payment": {"amount": 50, "currency": "EUR"}},
    {"@timestamp": at(18, 10), "message": "Withdrawal failed",
     "event": {"component": "user_activity", "type": "payment", "action": "withdrawal", "outcome": "failure"},
     "actor": {"type": "player", "id": "p-42"}},
    {"@timestamp": at(18, 20), "message": "Game session opened",
     "event": {"component": "user_activity", "type": "game_session", "action": "session_open", "outcome": "success"},
     "actor": {"type": "player", "id": "p-42"}},
    {"@timestamp": at(18, 30), "message": "Player p-42 changed email",
     "event": {"component": "user_activity", "type": "profile_change", "action": "email_changed", "outcome": "success"},
     "actor": JANE, "changes": [{"field": "email", "old": "jane.doe@example.com", "new": "jd@example.org"}]},
    {"@timestamp": at(18, 40), "message": "emp-7 set deposit limit of p-42",   # done to the player
     "event": {"component": "admin_action", "type": "profile_change", "action": "limit_changed", "outcome": "success"},
     "actor": {"type": "employee", "id": "emp-7"}, "target": {"type": "player", "id": "p-42"}},
    api("/api/v1/players/me", 200, 12, at(18, 41), actor={"type": "player", "id": "p-42"}),   # not an action
    {"@timestamp": at(18, 42), "message": "Player p-43 logged in",
     "event": {"component": "user_activity", "type": "login", "action": "login", "outcome": "success"},
     "actor": {"type": "player", "id": "p-43", "email": "someone@example.com"}},
]

TIMELINE = [  # 20:00-21:00: one deposit across components, with a long gap
    api("/api/v1/payments/deposit", 202, 40, at(20, 0), correlation={"id": "c-77"}),
    {**integ("CardHub", "timeout", 30000, at(20, 0, 2), correlation={"id": "c-77"}), "log": {"level": "error"}},
    {"@timestamp": at(20, 10), "message": "Deposit declined " + HOSTILE, "correlation": {"id": "c-77"},
     "event": {"component": "user_activity", "type": "payment", "action": "deposit", "outcome": "failure"},
     "actor": {"type": "player", "id": "p-1"}},
    {"@timestamp": at(20, 11), "message": "Deposit retried", "correlation": {"id": "c-77"},
     "event": {"component": "user_activity", "type": "payment", "action": "deposit", "outcome": "success"},
     "actor": {"type": "player", "id": "p-1"}},
    {"@timestamp": at(20, 12), "message": "unrelated", "correlation": {"id": "c-78"}},
]


@pytest.fixture
def env(tmp_path, store_url):
    return {"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": store_url}


@pytest.fixture
def stories(client, ingest_headers):
    events = ERRORS + API + INTEGRATIONS + ADMIN + PLAYER + TIMELINE
    response = client.post("/api/v1/events", json=events, headers=ingest_headers)
    assert response.json["accepted"] == len(events), response.json
    return events


# -- helpers --------------------------------------------------------------------------------

def trail_count(services) -> int:
    return services.trail.search(SearchRequest(query=parse("event.type:access"), total_bound=1_000_000)).total


KINDS = {"/timeline": "timeline", "/errors": "errors", "/players": "user_actions",
         "/admin-operations": "admin_operations", "/api-activity": "api_activity", "/integrations": "integrations"}


def page(client, services, url, **params):
    """GET a control page; check it answered, recorded exactly one reading-trail line (of its
    kind), escaped the hostile values; return its HTML."""
    before = trail_count(services)
    response = client.get(url, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert trail_count(services) == before + 1
    assert last_trail(services)["event"]["action"] == KINDS[url]
    text = response.get_data(as_text=True)
    assert "<script>alert" not in text
    return text


def search_link(text: str) -> str:
    match = re.search(r'<a class="as-search" href="([^"]+)"', text)
    assert match, "no 'open as a search' link"
    return html.unescape(match.group(1))


def search_total(client, url: str) -> int:
    text = client.get(url).get_data(as_text=True)
    match = re.search(r"<strong>([\d,]+)\+?</strong> events", text)
    assert match, text[:3000]
    return int(match.group(1).replace(",", ""))


def rows(text: str, table_class: str) -> list[list[str]]:
    """The cells (tags stripped, unescaped) of each body row of every table with this class."""
    tables = re.findall(rf'<table class="[^"]*\b{table_class}\b[^"]*">(.*?)</table>', text, re.S)
    assert tables, f"no table {table_class}"
    out = []
    for table in tables:
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S):
            cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
            out.append([" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return out


def last_trail(services) -> dict:
    return services.trail.search(SearchRequest(query=parse("event.type:access"), size=1)).hits[0]


# -- the pure computations ------------------------------------------------------------------

def test_percentiles_are_nearest_rank():
    values = sorted([1, 5, 5, 5, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 1000])
    assert percentile(values, 50) == 30 and percentile(values, 95) == 1000
    assert percentile([7], 99) == 7 and percentile([], 50) is None
    assert latency([3, 1, 2]) == {"count": 3, "p50": 2, "p95": 3, "p99": 3, "max": 3}


@pytest.mark.parametrize("events,share,last_ms,word", [
    (10, 0.30, 900, "failing"), (20, 0.10, 900, "degraded"), (10, 0.05, 900, "ok"),
    (5, 0.0, 100, "silent"), (5, 0.5, 100, "silent"), (10, 0.0, 900, "ok"),
])
def test_status_words(events, share, last_ms, word):
    assert control_health.status_word(events, share, last_ms, quiet_since_ms=500) == word


def test_changes_as_before_after_rows_with_personal_values_masked():
    event = {"changes": [{"field": "deposit_limit", "old": 100, "new": 250.0},
                         {"field": "kyc_status", "from": "pending", "to": "verified"},
                         {"field": "email", "old": "jane@example.com", "new": "j2@example.org"},
                         {"field": "password"}, {"field": "roles", "old": ["support"], "new": ["support", "vip"]}]}
    rows_ = control_admin.change_rows(event, sees_personal=False)
    assert [(r["field"], r["before"], r["after"]) for r in rows_] == [
        ("deposit_limit", "100", "250.0"), ("kyc_status", "pending", "verified"),
        ("email", "j***@example.com", "j***@example.org"), ("password", "—", "—"),
        ("roles", "support", "support, vip")]
    assert rows_[3]["has_before"] is False and rows_[2]["masked"] is True
    assert control_admin.change_rows(event, sees_personal=True)[2]["before"] == "jane@example.com"


def test_window_and_query_text():
    w = parse_window({"q": "service.name:a OR service.name:b", "from": "now-1h"}, now_ms=10_000_000)
    assert (w.start_ms, w.end_ms) == (10_000_000 - 3_600_000, 10_000_001)
    assert w.text("event.component:api") == "event.component:api AND (service.name:a OR service.name:b)"
    assert w.link(control.ERRORS_QUERY)["q"].startswith("(log.level:(error")
    assert default_window(now_ms=86_400_000).start_ms == 0
    with pytest.raises(Exception) as bad:
        parse_window({"q": "acter.id:x"})
    assert bad.value.position == 0
    with pytest.raises(Exception, match="from: must be before to"):
        parse_window({"from": "now", "to": "now-1h"})


# -- 1. Event Timeline ----------------------------------------------------------------------

def test_timeline_follows_one_key_across_components(app, services, persona, stories):
    client = persona("support")
    text = page(client, services, "/timeline", by="correlation.id", value="c-77", **window(20))
    table = rows(text, "timeline")
    assert [(r[2], r[5]) for r in table] == [("api", ""), ("integration", "timeout"), ("user_activity", "failure"),
                                            ("user_activity", "success")]
    assert [r[1] for r in table] == ["—", "2 s", "9 min 58 s · long gap", "1 min"]   # the long gap marked
    assert text.count('class="failure') == 2 and 'class="failure long-gap"' in text
    assert "<strong>4</strong> events of correlation.id" in text and "2 failed" in text
    assert re.search(r">api</a> <span class=\"count\">1</span>", text)
    assert re.search(r">user_activity</a> <span class=\"count\">2</span>", text)
    assert "Deposit declined &lt;script&gt;alert(1)&lt;/script&gt;" in text
    record = last_trail(services)
    assert record["labels"]["q"] == 'correlation.id:"c-77"' and record["labels"]["rows"] == "4"
    assert search_total(client, search_link(text)) == 4


def test_timeline_of_a_player_narrowed_and_its_form(app, services, persona, stories):
    client = persona("operations")
    text = page(client, services, "/timeline", by="player", value="p-42", q="event.outcome:failure", **window(18))
    assert "<strong>2</strong> events of player" in text
    assert search_total(client, search_link(text)) == 2
    empty = client.get("/timeline")   # the form alone: nothing read, nothing recorded
    assert empty.status_code == 200 and 'name="value"' in empty.get_data(as_text=True)


# -- 2. Error History -----------------------------------------------------------------------

def test_error_history_counts_types_first_and_last_seen(app, services, persona, stories):
    client = persona("technical")
    text = page(client, services, "/errors", **window(10))
    assert "<strong>6</strong> errors" in text   # the warning is not an error; the info-level error-component one is
    types = rows(text, "top-types")
    assert types[0][:4] == ["DbError", "3", at(10, 5), at(10, 40)]
    assert types[1][:4] == ["TimeoutError", "2", at(10, 20), at(10, 30)]
    assert types[2][:2] == ["ValueError", "1"] and types[2][4] == HOSTILE
    newest = text[text.index("Newest errors"):]   # (the error groups come first on the page)
    assert newest.index("deadlock detected") < newest.index("connection refused")   # newest first
    assert re.search(r'title="only wallet-service">wallet-service</a>\s*<span class="count">3</span>', text)
    assert re.search(r'title="only E1">E1</a>\s*<span class="count">2</span>', text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'class="histogram"' in text
    assert search_total(client, search_link(text)) == 6
    narrowed = page(client, services, "/errors", q="service.name:wallet-service", **window(10))
    assert last_trail(services)["labels"]["q"].endswith("AND service.name:wallet-service")
    assert "<strong>3</strong> errors" in narrowed and search_total(client, search_link(narrowed)) == 3


def test_error_history_empty_window_and_bad_input(app, services, persona, stories):
    client = persona("manager")
    text = page(client, services, "/errors", **window(22))
    assert "No errors in this window." in text
    bad = client.get("/errors", query_string={"q": "acter.id:x"})
    assert bad.status_code == 400 and "did you mean &#39;actor.id&#39;" in bad.get_data(as_text=True)
    assert "^ position 0" in bad.get_data(as_text=True)
    late = client.get("/errors", query_string={"from": "yesterday"})
    assert late.status_code == 400 and "from: &#39;yesterday&#39; is not a time" in late.get_data(as_text=True)
    hostile = client.get("/errors", query_string={"q": HOSTILE})
    assert hostile.status_code in (200, 400) and "<script>alert" not in hostile.get_data(as_text=True)


# -- 3. User Actions ------------------------------------------------------------------------

def test_user_actions_of_a_player_by_id(app, services, persona, stories):
    client = persona("operations")
    text = page(client, services, "/players", player="p-42", **window(18))
    assert "<strong>7</strong> actions of <code>p-42</code>" in text
    assert re.search(r">2 failed</a>", text)
    kinds = dict(re.findall(r'<li class="kind"><a [^>]+>([a-z ]+)</a>\s*<strong>(\d+)</strong>', text))
    assert kinds == {"login": "2", "payment": "2", "game session": "1", "profile change": "2"}
    assert text.count('<strong class="bad">failure</strong>') == 2
    assert text.index("Player p-42 changed email") < text.index("Player p-42 logged in")   # newest first
    assert "/api/v1/players/me" not in text and "p-43" not in text
    assert search_total(client, search_link(text)) == 7
    failures = re.search(r'<a class="bad" href="([^"]+)">2 failed</a>', text)
    assert search_total(client, html.unescape(failures.group(1))) == 2


def test_user_actions_find_a_player_by_exact_email_yet_show_it_masked(app, services, persona, stories):
    client = persona("support")
    text = page(client, services, "/players", player="jane.doe@example.com", **window(18))
    assert "Player <code>p-42</code>, found by e-mail j***@example.com" in text
    assert "<strong>7</strong> actions" in text
    assert "jane.doe@example.com" not in text and "Jane Doe" not in text   # masked wherever it shows
    assert "j***@example.com" in text
    record = last_trail(services)
    assert record["labels"]["player"] == "p-42" and "jane.doe@example.com" not in str(record)
    missing = page(client, services, "/players", player="nobody@example.com", **window(18))
    assert "No player event in this window carries the e-mail n***@example.com" in missing


# -- 4. Admin Operations -------------------------------------------------------------------

def test_admin_operations_with_before_and_after_values(app, services, persona, stories):
    client = persona("auditor")
    text = page(client, services, "/admin-operations", **window(16))
    assert "<strong>4</strong> operations" in text and "player_viewed" not in text   # reads are not operations
    diffs = rows(text, "diff")
    assert ["deposit_limit", "100", "250"] in diffs and ["kyc_status", "pending", "verified"] in diffs
    assert ["email", "o***@example.com", "n***@example.org"] in diffs   # personal values masked
    assert "old.address@example.com" not in text
    assert ["note", HOSTILE, "fine"] in diffs and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert re.search(r'title="only emp-8">emp-8</a>\s*<span class="count">2</span>', text)
    assert re.search(r'title="only limit_changed">limit_changed</a>\s*<span class="count">1</span>', text)
    assert search_total(client, search_link(text)) == 4
    one = page(client, services, "/admin-operations", q='actor.id:"emp-7"', **window(16))
    assert "<strong>2</strong> operations" in one and search_total(client, search_link(one)) == 2


def test_admin_operations_show_personal_change_values_to_security(app, services, persona, stories):
    text = page(persona("security"), services, "/admin-operations", **window(16))
    assert ["email", "old.address@example.com", "new.address@example.org"] in rows(text, "diff")


# -- 5. API Activity -----------------------------------------------------------------------

def test_api_activity_status_classes_latency_and_slowest_routes(app, services, persona, stories):
    client = persona("technical")
    text = page(client, services, "/api-activity", **window(12))
    classes = {r[0]: r[1:] for r in rows(text, "status-classes")}
    assert classes == {"2xx": ["12", "75.0 %"], "3xx": ["1", "6.2 %"], "4xx": ["1", "6.2 %"], "5xx": ["2", "12.5 %"]}
    assert re.search(r"requests</span><strong>16</strong><span class=\"note\">0.3 / min", text)
    # 16 durations: 1, 5×4, 10..100 by 10, 1000 -> nearest rank p50 = 8th = 30, p95 = p99 = 16th = 1000
    assert re.search(r"p50</span><strong>30.0 ms</strong>", text)
    assert re.search(r"p95</span><strong>1,000 ms</strong>", text) and re.search(r"p99</span><strong>1,000 ms", text)
    assert re.search(r"error rate \(5xx\)</span><strong>12.5 %</strong>", text)
    routes = rows(text, "routes")
    assert routes[0] == ["/api/v1/b", "5", "5.0 ms", "1,000 ms", "1,000 ms", "1"]
    assert routes[1] == ["/api/v1/a", "10", "50.0 ms", "100 ms", "100 ms", "1"]
    assert routes[2][0] == "/x/" + HOSTILE
    assert "newest 16 requests" in text
    assert search_total(client, search_link(text)) == 16
    five = re.search(r'<a href="([^"]+)">5xx</a>', text)
    assert search_total(client, html.unescape(five.group(1))) == 2
    narrowed = page(client, services, "/api-activity", q='url.path:"/api/v1/b"', **window(12))
    assert search_total(client, search_link(narrowed)) == 5


def test_api_activity_sample_is_bounded(app, services, persona, stories):
    client = persona("manager")
    assert client.get("/api-activity", query_string={"sample": 50_000}).status_code == 400
    text = page(client, services, "/api-activity", sample=100, **window(12))
    assert "newest 16 requests" in text
    empty = page(client, services, "/api-activity", **window(22))
    assert "No API requests in this window." in empty


# -- 6. Integration Status -----------------------------------------------------------------

def test_integration_status_words_failures_and_latency(app, services, persona, stories):
    client = persona("technical")
    text = page(client, services, "/integrations", **window(14))
    table = {r[1]: r for r in rows(text, "providers")}
    assert set(table) == {"AcmePay", "SlowGames", "QuietKYC", "GoodSMS", HOSTILE}
    acme = table["AcmePay"]
    assert acme[0] == "failing" and acme[2:5] == ["11", "3", "27.3 %"]
    assert acme[6].startswith(at(14, 50)) and "AcmePay refused: " + HOSTILE in acme[6]
    slow = table["SlowGames"]
    assert slow[0] == "degraded" and slow[2:5] == ["21", "2", "9.5 %"]
    # SlowGames durations 10..200 by 10 (the 21st call has none): nearest-rank p95 = 19th = 190
    assert slow[7].startswith("190 ms") and "20 calls" in slow[7]
    assert table["QuietKYC"][0] == "silent" and table["QuietKYC"][3] == "0"
    assert table["GoodSMS"][0] == "ok" and table["GoodSMS"][7].startswith("100 ms")
    assert table[HOSTILE][0] == "ok"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.index('status-failing">') < text.index('status-silent">') < text.index('status-degraded">') \
        < text.index('status-ok">')
    assert "timeline?by=correlation.id&amp;value=kyc-1" in text
    # the provider links run the equivalent searches
    acme_link = re.search(r'<a href="([^"]+)">AcmePay</a>', text)
    assert search_total(client, html.unescape(acme_link.group(1))) == 11
    acme_failures = re.search(r'<a href="([^"]+)">3</a>', text)
    assert search_total(client, html.unescape(acme_failures.group(1))) == 3
    assert search_total(client, search_link(text)) == 48
    assert "<strong>48</strong> provider events" in text and ">5 failed</a>" in text
    newest = rows(text, "failure-list")
    assert [(r[0], r[1], r[2]) for r in newest] == [
        (at(14, 50), "AcmePay", "circuit_open"), (at(14, 45), "AcmePay", "error"), (at(14, 40), "AcmePay", "timeout"),
        (at(14, 30, 8), "SlowGames", "error"), (at(14, 30, 6), "SlowGames", "error")]


def test_integration_status_over_the_newest_events_lists_earlier_providers_as_silent(
        app, services, client, ingest_headers, persona):
    busy = [integ("BusyPay", "timeout" if i % 10 == 0 else "ok", 100 + i, at(8, 40 + i // 30, (2 * i) % 60))
            for i in range(150)]
    old = [integ("OldKYC", "ok", 50, at(8, 5 + i)) for i in range(3)]
    assert client.post("/api/v1/events", json=busy + old, headers=ingest_headers).json["accepted"] == 153
    text = page(persona("operations"), services, "/integrations", sample=100, **{"from": at(8, 0), "to": at(8, 50)})
    assert "<strong>153</strong> provider events" in text and "among the newest 100" in text
    table = {r[1]: r for r in rows(text, "providers")}
    # the newest 100 of BusyPay's 150 calls (i = 50..149): every tenth timed out -> 10 of 100
    assert table["BusyPay"][0] == "degraded" and table["BusyPay"][2:5] == ["100", "10", "10.0 %"]
    assert table["OldKYC"][0] == "silent" and table["OldKYC"][2] == "0 3 earlier" and table["OldKYC"][3] == "—"
    assert table["OldKYC"][5].startswith(at(8, 7))


def test_samples_are_read_page_by_page(app, services, stories, monkeypatch):
    from app.search import figures
    monkeypatch.setattr(figures, "READ_PAGE", 4)
    w = parse_window(window(12))
    request = w.request(control_health.API_QUERY)
    got = figures.sample(services.store, request, lambda r: r, 10)
    direct = services.store.search(SearchRequest(query=request.query, start_ms=w.start_ms, end_ms=w.end_ms, size=10))
    assert [e["event"]["id"] for e in got] == [e["event"]["id"] for e in direct.hits]
    assert len(figures.sample(services.store, request, lambda r: r, 100)) == 16


def test_integration_status_empty_window_and_no_timeline_links_without_the_right(app, services, persona, stories):
    manager = persona("manager")
    text = page(manager, services, "/integrations", **window(22))
    assert "No provider traffic in this window" in text and "No provider failures in this window." in text
    assert "/timeline?" not in page(manager, services, "/integrations", **window(14))   # managers have no timeline


# -- every page: bad input never a 500, the hostile values escaped ------------------------

@pytest.mark.parametrize("url,params", [
    ("/timeline", {"by": "message", "value": "x"}),
    ("/timeline", {"by": "correlation.id", "value": "c-77", "gap_minutes": "soon"}),
    ("/errors", {"to": "tomorrow-ish"}),
    ("/players", {"player": "p-42", "q": "(unclosed"}),
    ("/admin-operations", {"from": "now", "to": "now-1h"}),
    ("/api-activity", {"sample": "lots"}),
    ("/integrations", {"q": 'integration.provider:"'}),
    ("/errors", {"q": "!!!"}),                                      # refused by the store when it compiles
    ("/admin-operations", {"cursor": "garbage"}),
    ("/timeline", {"by": "player", "value": "p-1", "cursor": "zzz"}),
    ("/players", {"player": "p-1", "q": "???"}),
])
def test_bad_input_is_shown_inline_with_400(app, services, persona, url, params):
    client = persona("administrator")
    response = client.get(url, query_string=params)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert 'class="error query-error"' in text


def test_the_pages_refuse_roles_without_their_permission(app, persona):
    support = persona("support")
    for url in ("/errors", "/admin-operations", "/api-activity", "/integrations"):
        assert support.get(url).status_code == 403, url
    manager = persona("manager")
    for url in ("/timeline", "/players"):
        assert manager.get(url).status_code == 403, url
