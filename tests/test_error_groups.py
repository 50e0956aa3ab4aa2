"""Error groups: the registry on SQLite and PostgreSQL (statuses, regressions, merges) and the
service over every store backend (exact counts, trend, detail, sync, regression detection)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from app import create_app
from app.errorgroups import service, sync
from app.meta import errorgroups as registry
from app.search.window import parse_window

from conftest import BACKENDS, store_url_for
from test_meta_db import meta, meta_url, pg_schema_url  # noqa: F401  (fixtures: SQLite and PostgreSQL)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)




def seen(fp, first_min, last_min, title="T: x"):
    return registry.Seen(fp, title, T0 + timedelta(minutes=first_min), T0 + timedelta(minutes=last_min))


# -- the registry -----------------------------------------------------------------------------

def test_new_groups_then_widened_times(meta):
    observed = registry.observe(meta, [seen("a" * 32, 5, 10), seen("b" * 32, 0, 1)], now=T0)
    assert [g["fingerprint"] for g in observed.new] == ["a" * 32, "b" * 32] and not observed.regressions
    again = registry.observe(meta, [seen("a" * 32, 2, 30)], now=T0)
    assert again.new == [] and again.regressions == []
    row = registry.by_fingerprints(meta, ["a" * 32])["a" * 32]
    assert (row.status, row.first_seen, row.last_seen) == ("unresolved", T0 + timedelta(minutes=2),
                                                           T0 + timedelta(minutes=30))


def test_a_resolved_group_that_recurs_is_a_regression(meta):
    registry.observe(meta, [seen("a" * 32, 0, 10)])
    gid = registry.by_fingerprints(meta, ["a" * 32])["a" * 32].id
    resolved_at = T0 + timedelta(minutes=20)
    registry.set_status(meta, gid, "resolved", "olga", now=resolved_at)
    # the same errors read again (the sync's overlap): no regression
    assert registry.observe(meta, [seen("a" * 32, 0, 10)]).regressions == []
    assert registry.group(meta, gid).status == "resolved"
    found = registry.observe(meta, [seen("a" * 32, 0, 25)])
    assert [g["id"] for g in found.regressions] == [gid]
    row = registry.group(meta, gid)
    assert (row.status, row.regression, row.regressed_at is not None) == ("unresolved", True, True)
    assert [g.id for g in registry.regressed_between(meta, row.regressed_at, row.regressed_at + timedelta(seconds=1))] == [gid]


def test_an_ignored_group_stays_ignored(meta):
    registry.observe(meta, [seen("a" * 32, 0, 10)])
    gid = registry.by_fingerprints(meta, ["a" * 32])["a" * 32].id
    registry.set_status(meta, gid, "ignored", "olga")
    assert registry.observe(meta, [seen("a" * 32, 0, 600)]).regressions == []
    assert registry.group(meta, gid).status == "ignored"


def test_statuses_are_checked(meta):
    registry.observe(meta, [seen("a" * 32, 0, 10)])
    gid = registry.by_fingerprints(meta, ["a" * 32])["a" * 32].id
    with pytest.raises(ValueError, match="status: one of unresolved, resolved, ignored"):
        registry.set_status(meta, gid, "closed", "olga")
    with pytest.raises(LookupError):
        registry.set_status(meta, 2**40, "resolved", "olga")


def test_merge(meta):
    registry.observe(meta, [seen("a" * 32, 5, 10), seen("b" * 32, 0, 30), seen("c" * 32, 1, 2)])
    a, b, c = (registry.by_fingerprints(meta, [f * 32])[f * 32].id for f in "abc")
    registry.merge(meta, b, [c], "olga")
    merged = registry.merge(meta, a, [b], "olga")     # b's member c moves with it
    assert (merged.first_seen, merged.last_seen) == (T0, T0 + timedelta(minutes=30))
    assert sorted(registry.members(meta, a)) == ["a" * 32, "b" * 32, "c" * 32]
    assert [g.id for g in registry.groups(meta)] == [a]
    assert {f: g.id for f, g in registry.by_fingerprints(meta, ["b" * 32, "c" * 32]).items()} == {"b" * 32: a, "c" * 32: a}
    with pytest.raises(ValueError, match="already"):
        registry.merge(meta, a, [c], "olga")
    with pytest.raises(ValueError, match="merged into"):
        registry.set_status(meta, b, "resolved", "olga")
    # a merged group's errors reopen the group it is in
    registry.set_status(meta, a, "resolved", "olga", now=T0 + timedelta(minutes=40))
    assert [g["id"] for g in registry.observe(meta, [seen("c" * 32, 1, 50)]).regressions] == [a]
    registry.unmerge(meta, b)
    assert sorted(registry.members(meta, a)) == ["a" * 32, "c" * 32]


def test_values_postgres_would_refuse_are_skipped(meta):
    observed = registry.observe(meta, [seen("x\x00y", 0, 1), seen("z" * 65, 0, 1), seen("d" * 32, 0, 1, "t\x00" + "é" * 400)])
    assert [g["fingerprint"] for g in observed.new] == ["d" * 32]
    assert len(observed.new[0]["title"]) <= registry.MAX_TITLE


# -- the service over every store --------------------------------------------------------------

def _errors():
    """30 timeouts (wallet 1.4.0 and 1.5.0), 5 key errors (bonus), 3 sign-ins; over 2 hours."""
    events = []
    for i in range(30):
        events.append({"@timestamp": (T0 + timedelta(minutes=4 * i)).isoformat(),
                       "service": {"name": "wallet-service", "version": "1.4.0" if i < 20 else "1.5.0"},
                       "log": {"level": "error"},
                       "error": {"type": "TimeoutError", "message": f"timeout after {5000 + i * 7} ms for round {83731 + i}"}})
    for i in range(5):
        events.append({"@timestamp": (T0 + timedelta(minutes=100 + i)).isoformat(), "service": {"name": "bonus-service"},
                       "error": {"type": "KeyError", "message": f"'rule_{i}'"}})
    for i in range(3):
        events.append({"@timestamp": (T0 + timedelta(minutes=i)).isoformat(), "message": "signed in",
                       "event": {"component": "user_activity", "type": "login"}})
    return events


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("groups")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    report = services.ingestor.ingest([(i, json.dumps(e).encode()) for i, e in enumerate(_errors())], position="line")
    assert report.accepted == 38
    services.store.refresh() if hasattr(services.store, "refresh") else None
    yield app, services
    services.close()


NOW_MS = int((T0 + timedelta(hours=3)).timestamp() * 1000)


def _window(**args):
    return parse_window({"from": "2026-11-20T09:00:00Z", "to": "2026-11-20T13:00:00Z", **args}, NOW_MS)


def _fingerprinter(services):
    return services.ingestor.normalizer.fingerprinter


def test_list_detail_status_merge_and_regression(world):
    app, services = world
    store, meta = services.store, services.meta
    with app.app_context():
        sync.sync(store, meta, _fingerprinter(services), now_ms=NOW_MS)
        listing = service.list_groups(store, meta, lambda r: r, _window(), service.Listing(status="all"),
                                      _fingerprinter(services))
        groups = {g["title"]: g for g in listing["groups"]}
        assert set(groups) == {"TimeoutError: timeout after <num> ms for round <num>", "KeyError: <str>"}
        timeout = groups["TimeoutError: timeout after <num> ms for round <num>"]
        assert (timeout["count"], groups["KeyError: <str>"]["count"]) == (30, 5)   # exact
        assert sum(timeout["trend"]) == 30 and len(timeout["trend"]) == service.TREND_BUCKETS
        assert timeout["services"] == ["wallet-service"] and timeout["status"] == "unresolved"
        assert timeout["first_seen"] == "2026-11-20T10:00:00.000Z" and timeout["last_seen"] == "2026-11-20T11:56:00.000Z"
        assert listing["events"] == 35 and listing["unregistered"] == 0

        # narrowed by the page's query and window
        narrowed = service.list_groups(store, meta, lambda r: r, _window(q="service.name:bonus-service"))
        assert [(g["title"], g["count"]) for g in narrowed["groups"]] == [("KeyError: <str>", 5)]

        one = service.detail(store, meta, lambda r: r, _window(), timeout["id"])
        assert one["total"] == 30 and one["total_exact"]
        assert {r["value"]: r["count"] for r in one["releases"]} == {"1.4.0": 20, "1.5.0": 10}
        assert one["services"] == [{"value": "wallet-service", "count": 30}]
        assert one["sample"]["error"]["message"] == "timeout after 5203 ms for round 83760"   # the newest
        assert sum(b.count for b in one["histogram"]) == 30

        key = groups["KeyError: <str>"]["id"]
        service.set_status(meta, key, "resolved", "olga")
        assert [g["id"] for g in service.list_groups(store, meta, lambda r: r, _window())["groups"]] == [timeout["id"]]
        assert [g["id"] for g in service.list_groups(store, meta, lambda r: r, _window(),
                                                     service.Listing(status="resolved"))["groups"]] == [key]

        # a new KeyError after the resolution: the next sync reopens the group as a regression
        later = datetime.now(timezone.utc) + timedelta(minutes=1)
        services.ingestor.ingest([(0, json.dumps({"@timestamp": later.isoformat(), "service": {"name": "bonus-service"},
                                                  "error": {"type": "KeyError", "message": "'rule_9'"}}).encode())],
                                 position="line")
        services.store.refresh() if hasattr(services.store, "refresh") else None
        found = sync.sync(store, meta, _fingerprinter(services), now_ms=int(later.timestamp() * 1000) + 1000)
        assert [g["id"] for g in found.regressions] == [key] and found.new == []
        row = registry.group(meta, key)
        assert (row.status, row.regression) == ("unresolved", True)

        merged = service.merge(meta, timeout["id"], [key], "olga")
        assert merged["id"] == timeout["id"]
        after = service.list_groups(store, meta, lambda r: r, _window(), service.Listing(status="all"))
        assert [(g["id"], g["count"]) for g in after["groups"]] == [(timeout["id"], 35)]
        assert service.detail(store, meta, lambda r: r, _window(), key)["group"]["id"] == timeout["id"]
        with pytest.raises(ValueError):
            service.list_groups(store, meta, lambda r: r, _window(), service.Listing(status="closed"))
        with pytest.raises(LookupError):
            service.detail(store, meta, lambda r: r, _window(), 999_999)


def test_trend_direction():
    assert service.trend_direction([0] * 6 + [5] * 6) == "rising"
    assert service.trend_direction([5] * 6 + [0] * 6) == "falling"
    assert service.trend_direction([1] * 12) == "steady"


# -- the pages and the API ----------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> {{7*7}} "><img src=x onerror=alert(2)>'


@pytest.fixture
def filled(app, services):
    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    events = [{"@timestamp": (now + timedelta(minutes=i)).isoformat(), "service": {"name": "wallet-service", "version": "2.0.1"},
               "error": {"type": "TimeoutError", "message": f"timeout after {5000 + i} ms for round {83731 + i}",
                         "stack_trace": 'File "/srv/app/ledger.py", line 3, in apply'}} for i in range(12)]
    events += [{"@timestamp": (now + timedelta(minutes=i)).isoformat(), "service": {"name": "bonus-service"},
                "error": {"type": "HostileError", "message": HOSTILE + f" {i}"}} for i in range(3)]
    report = services.ingestor.ingest([(i, json.dumps(e).encode()) for i, e in enumerate(events)], position="line")
    assert report.accepted == 15
    return services


def _group_ids(services):
    with services.meta.Session() as s:
        return {row.title.split(":")[0]: row.id for row in s.query(registry.ErrorGroup)}


def test_errors_page_lists_groups_and_escapes_titles(filled, persona):
    client = persona("technical")
    page = client.get("/errors?from=now-24h")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Error groups" in html and "TimeoutError: timeout after &lt;num&gt; ms for round &lt;num&gt;" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "Top error types" in html and "Newest errors" in html   # the history is still there
    assert 'name="group"' in html   # technical may merge
    ids = _group_ids(filled)
    detail = client.get(f"/errors/groups/{ids['TimeoutError']}?from=now-24h")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "2.0.1" in text and "wallet-service" in text and "Resolve" in text
    assert client.get("/errors?status=closed").status_code == 400
    assert client.get("/errors/groups/999999").status_code == 404


def test_a_reader_without_the_permission_cannot_change_a_group(filled, persona):
    client = persona("manager")   # view_errors, not manage_error_groups
    html = client.get("/errors").get_data(as_text=True)
    assert 'name="group"' not in html
    gid = _group_ids(filled)["TimeoutError"]
    page = client.get(f"/errors/groups/{gid}").get_data(as_text=True)
    from conftest import csrf_token
    token = csrf_token(client.get("/account/sessions").get_data(as_text=True))
    assert client.post(f"/errors/groups/{gid}/status", data={"status": "resolved", "csrf_token": token}).status_code == 403
    assert "Resolve" not in page


def test_status_and_merge_through_the_page_and_the_api(filled, persona):
    from conftest import csrf_token
    client = persona("technical")
    client.get("/errors")   # syncs the registry
    ids = _group_ids(filled)
    timeout, hostile = ids["TimeoutError"], ids["HostileError"]
    page = client.get(f"/errors/groups/{timeout}").get_data(as_text=True)
    response = client.post(f"/errors/groups/{timeout}/status", data={"status": "resolved", "csrf_token": csrf_token(page)})
    assert response.status_code == 302 and registry.group(filled.meta, timeout).status == "resolved"
    assert client.post(f"/errors/groups/{timeout}/status", data={"status": "gone", "csrf_token": csrf_token(page)}).status_code == 400

    listed = client.get("/api/v1/error-groups?from=now-24h&status=all").get_json()
    assert {g["id"]: g["count"] for g in listed["groups"]} == {timeout: 12, hostile: 3}
    one = client.get(f"/api/v1/error-groups/{hostile}?from=now-24h").get_json()
    assert one["total"] == 3 and one["sample"]["error"]["type"] == "HostileError"
    headers = {"X-CSRFToken": csrf_token(page)}
    assert client.post(f"/api/v1/error-groups/{hostile}/status", json={"status": "ignored"},
                       headers=headers).get_json()["status"] == "ignored"
    assert client.post("/api/v1/error-groups/merge", json={"into": timeout, "groups": "x"}, headers=headers).status_code == 400
    assert client.post("/api/v1/error-groups/merge", json={"into": timeout, "groups": [999999]}, headers=headers).status_code == 404
    merged = client.post("/api/v1/error-groups/merge", json={"into": timeout, "groups": [hostile]}, headers=headers)
    assert merged.status_code == 200 and merged.get_json()["id"] == timeout
    listed = client.get("/api/v1/error-groups?from=now-24h&status=all").get_json()
    assert [(g["id"], g["count"]) for g in listed["groups"]] == [(timeout, 15)]
    assert client.get("/api/v1/error-groups?status=nope").status_code == 400
    # recorded as admin actions
    from app.storage import SearchRequest
    from app.query import parse
    found = filled.store.search(SearchRequest(query=parse("event.action:(error_group_status OR error_groups_merged)"),
                                              size=10))
    assert found.total == 3


# -- the alert kinds new_error_group and regression ---------------------------------------------

def test_error_group_kinds_are_threshold_rules_over_the_sync_events():
    from app.alerts.rules import RuleError, validate_rule
    rule = validate_rule({"id": "new-errors", "name": "New error group", "kind": "new_error_group",
                          "query": "service.name:wallet-service"})
    assert (rule.kind, rule.group_by, rule.threshold, rule.window_s) == ("threshold", "target.id", 0, 900)
    assert rule.query == "event.action:error_group_new AND (service.name:wallet-service)"
    assert validate_rule({"id": "r", "name": "r", "kind": "regression", "window": "1h"}).query == \
        "event.action:error_group_regression"
    with pytest.raises(RuleError) as caught:
        validate_rule({"id": "r", "name": "r", "kind": "regression", "threshold": 3})
    assert caught.value.field == "threshold"
    with pytest.raises(RuleError) as caught:
        validate_rule({"id": "r", "name": "r", "kind": "regression", "query": "service.name:(a"})
    assert caught.value.field == "query" and caught.value.position is not None


def test_the_scheduler_fires_new_group_and_regression_alerts(services):
    from app.alerts.rules import validate_rule
    from app.alerts.scheduler import tick
    rules = [validate_rule({"id": "new-errors", "name": "New error group", "kind": "new_error_group"}),
             validate_rule({"id": "regressions", "name": "Regression", "kind": "regression", "severity": "critical"})]
    start = datetime.now(timezone.utc) - timedelta(minutes=10)

    def write(minutes, type_, message):
        report = services.ingestor.ingest([(0, json.dumps({
            "@timestamp": (start + timedelta(minutes=minutes)).isoformat(), "service": {"name": "wallet-service"},
            "error": {"type": type_, "message": message}}).encode())], position="line")
        assert report.accepted == 1

    write(0, "TimeoutError", "timeout after 5012 ms for round 83731")
    write(1, "TimeoutError", "timeout after 12 ms for round 9")
    write(2, "KeyError", "'bonus'")
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    report = tick(now, services, rules=rules, deliver=False)
    fired = sorted((t.rule_id, t.to_state) for t in report.transitions if t.to_state == "firing")
    assert fired == [("new-errors", "firing"), ("new-errors", "firing")], report
    timeout = next(g for g in registry.groups(services.meta) if g.title.startswith("TimeoutError")).id

    registry.set_status(services.meta, timeout, "resolved", "olga")
    write(11, "TimeoutError", "timeout after 7 ms for round 10")   # after the resolution
    report = tick(now + 60_000 + 61_000, services, rules=rules, deliver=False)
    assert [(t.rule_id, t.group, t.to_state) for t in report.transitions
            if t.rule_id == "regressions" and t.to_state == "firing"] == \
        [("regressions", str(timeout), "firing")]
    assert registry.group(services.meta, timeout).regression


def test_read_keys_list_error_groups_but_cannot_change_them(filled, app, read_headers):
    client = app.test_client()
    listed = client.get("/api/v1/error-groups?from=now-24h&status=all", headers=read_headers)
    assert listed.status_code == 200
    groups = {g["title"].split(":")[0]: g for g in listed.get_json()["groups"]}
    assert groups["TimeoutError"]["count"] == 12
    gid = groups["TimeoutError"]["id"]
    assert client.get(f"/api/v1/error-groups/{gid}?from=now-24h", headers=read_headers).get_json()["total"] == 12
    changed = client.post(f"/api/v1/error-groups/{gid}/status", json={"status": "ignored"}, headers=read_headers)
    assert changed.status_code in (401, 403) and registry.group(filled.meta, gid).status != "ignored"
