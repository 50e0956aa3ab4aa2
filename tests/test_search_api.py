"""The search API over HTTP (Flask test client on a real store, each backend in turn): answers,
errors, context, timelines, exports and saved searches."""
from __future__ import annotations

import csv
import io
import subprocess
import sys

import orjson
import pytest

from conftest import csrf_token

T0 = "2026-11-20T10:00:00.000Z"


@pytest.fixture
def env(tmp_path, store_url):
    return {"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": store_url}


def ev(i: int, **fields) -> dict:
    base = {"@timestamp": f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}.000Z", "event": {"id": f"e{i}"}}
    base.update(fields)
    return base


@pytest.fixture
def story(client, ingest_headers):
    """One deposit told across components, plus noise, plus a hostile message."""
    events = [
        ev(1, message="POST /api/v1/payments/deposit 202", http={"response": {"status_code": 202}},
           correlation={"id": "c-77"}, actor={"type": "player", "id": "p-1"}),
        ev(2, message="CardHub authorise timeout", integration={"provider": "CardHub", "status": "timeout"},
           correlation={"id": "c-77"}, log={"level": "error"}),
        ev(20, message="Deposit of 50 EUR declined", payment={"transaction_id": "tx-9", "amount": 50},
           correlation={"id": "c-77"}, actor={"type": "player", "id": "p-1"}, event={"id": "e20", "outcome": "failure"}),
        ev(30, message="=HYPERLINK(\"http://evil\")", actor={"type": "player", "id": "p-2"}),
        *[ev(100 + i, message=f"noise {i}", actor={"type": "player", "id": "p-3"}) for i in range(30)],
    ]
    response = client.post("/api/v1/events", json=events, headers=ingest_headers)
    assert response.json["accepted"] == len(events)
    return events


def get(client, headers, url, **params):
    return client.get(url, query_string={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z", **params},
                      headers=headers)


def test_search_answers_hits_total_facets_histogram(client, read_headers, story):
    body = get(client, read_headers, "/api/v1/search", q="actor.type:player", facets="actor.id,log.level",
               histogram="1h", size=5).json
    assert body["total"] == {"value": 33, "exact": True}
    assert len(body["hits"]) == 5 and body["next_cursor"]
    assert body["facets"]["actor.id"][0] == {"value": "p-3", "count": 30, "selected": False}
    assert body["facet_status"] == {"actor.id": "exact", "log.level": "exact"}
    assert sum(b["count"] for b in body["histogram"]["buckets"]) == 33 and len(body["histogram"]["buckets"]) == 24
    selected = get(client, read_headers, "/api/v1/search", q="actor.id:p-1", facets="actor.id").json
    assert selected["facets"]["actor.id"] == [{"value": "p-1", "count": 2, "selected": True}]


def test_cursor_paging_over_the_api(client, read_headers, story):
    seen, cursor = [], None
    while True:
        params = {"q": "noise", "size": 7, **({"cursor": cursor} if cursor else {})}
        body = get(client, read_headers, "/api/v1/search", **params).json
        seen += [h["event"]["id"] for h in body["hits"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 30 == len(set(seen))
    assert get(client, read_headers, "/api/v1/search", cursor="garbage").status_code == 400


@pytest.mark.parametrize("q,position,words", [
    ("actor.id:", 9, "expected a value"),
    ("(deposit OR", 11, "expected a search term"),
    ("acter.id:p-1", 0, "did you mean 'actor.id'"),
    ("http.response.status_code:abc", 26, "expected a number"),
    ('"unterminated', None, "unterminated phrase"),
])
def test_bad_queries_answer_400_with_position(client, read_headers, q, position, words):
    response = get(client, read_headers, "/api/v1/search", q=q)
    assert response.status_code == 400
    error = response.json["error"]
    assert words in error["message"]
    if position is not None:
        assert error["position"] == position


@pytest.mark.parametrize("params,words", [
    ({"from": "yesterday"}, "from: 'yesterday' is not a time"),
    ({"histogram": "7 parsecs"}, "histogram: expected auto"),
    ({"facets": "message"}, "cannot be counted"),
    ({"order": "random"}, "order: asc or desc"),
    ({"size": "many"}, "size: expected an integer"),
])
def test_bad_parameters_answer_400(client, read_headers, params, words):
    response = get(client, read_headers, "/api/v1/search", **params)
    assert response.status_code == 400 and words in response.json["error"]["message"]


def test_context_by_time_and_by_key(client, read_headers, story):
    by_time = client.get("/api/v1/events/e20/context?before=2&after=2", headers=read_headers).json
    assert [e["event"]["id"] for e in by_time["before"]] == ["e1", "e2"]
    assert [e["event"]["id"] for e in by_time["after"]] == ["e30", "e100"]
    assert by_time["keys"]["correlation.id"] == "c-77"
    by_key = client.get("/api/v1/events/e2/context?by=correlation.id&before=5&after=5", headers=read_headers).json
    assert [e["event"]["id"] for e in by_key["before"]] == ["e1"]
    assert [e["event"]["id"] for e in by_key["after"]] == ["e20"]
    assert client.get("/api/v1/events/e30/context?by=payment.transaction_id", headers=read_headers).status_code == 400
    assert client.get("/api/v1/events/nope/context", headers=read_headers).status_code == 404


def test_timeline_follows_the_money_across_components(client, read_headers, story):
    body = client.get("/api/v1/timeline?by=correlation.id&value=c-77&gap_seconds=60", headers=read_headers).json
    assert [e["event"]["event"]["id"] for e in body["entries"]] == ["e1", "e2", "e20"]
    assert body["components"] == {"api": 1, "integration": 1, "user_activity": 1}
    assert [e["failure"] for e in body["entries"]] == [False, True, True] and body["failures"] == 2
    assert [e["gap"] for e in body["entries"]] == [False, False, False]
    player = client.get("/api/v1/timeline?by=player&value=p-1", headers=read_headers).json
    assert [e["event"]["event"]["id"] for e in player["entries"]] == ["e1", "e20"]
    assert client.get("/api/v1/timeline?by=message&value=x", headers=read_headers).status_code == 400


def test_export_csv_is_safe_and_recorded(client, read_headers, story):
    response = get(client, read_headers, "/api/v1/export", q="actor.type:player", format="csv",
                   fields="event.id,message")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["event.id", "message"] and len(rows) == 34
    assert ["e30", "'=HYPERLINK(\"http://evil\")"] in rows  # a formula stays text in a spreadsheet
    from app.query import parse
    from app.storage import SearchRequest
    trail = client.application.extensions["platlogs"].trail.search(   # the reading trail's own stream
        SearchRequest(query=parse("event.type:access AND event.action:(export OR export_finished)"))).hits
    started, finished = (e for e in sorted(trail, key=lambda e: e["event"]["action"]))   # before / after the rows
    assert started["event"]["action"] == "export" and started["labels"]["q"] == "actor.type:player"
    assert finished["labels"]["rows"] == "33" and finished["labels"]["q"] == "actor.type:player"


def test_export_ndjson_streams_every_match(client, read_headers, story):
    response = get(client, read_headers, "/api/v1/export", q="noise", format="ndjson")
    lines = response.get_data().splitlines()
    assert len(lines) == 30 and {orjson.loads(line)["event"]["id"] for line in lines} == {f"e{100 + i}" for i in range(30)}


def test_saved_searches_private_shared_and_csrf(client, services, signed_in, read_headers):
    token = csrf_token(signed_in.get("/").get_data(as_text=True))
    refused = signed_in.post("/api/v1/saved-searches", json={"name": "x", "q": "deposit"})
    assert refused.status_code == 400  # a cookie-authenticated write without the CSRF token
    headers = {"X-CSRFToken": token}
    mine = signed_in.post("/api/v1/saved-searches", json={"name": "Mine", "q": "deposit"}, headers=headers)
    shared = signed_in.post("/api/v1/saved-searches", headers=headers,
                            json={"name": "Team", "q": "log.level:error", "from": "now-7d", "shared_role": "support"})
    assert mine.status_code == 201 and shared.status_code == 201
    bad = signed_in.post("/api/v1/saved-searches", json={"name": "Bad", "q": "acter.id:1"}, headers=headers)
    assert bad.status_code == 400 and "did you mean" in bad.json["error"]["message"]
    assert [s["name"] for s in signed_in.get("/api/v1/saved-searches").json] == ["Mine", "Team"]
    # another user with the role the search is shared with sees it, and cannot delete it
    services.meta.create_user("sam", "support", "sam-password-1")
    other = client.application.test_client()
    page = other.get("/login").get_data(as_text=True)
    other.post("/login", data={"username": "sam", "password": "sam-password-1", "csrf_token": csrf_token(page)})
    assert [s["name"] for s in other.get("/api/v1/saved-searches").json] == ["Team"]
    other_token = csrf_token(other.get("/").get_data(as_text=True))
    assert other.delete(f"/api/v1/saved-searches/{shared.json['id']}", headers={"X-CSRFToken": other_token}).status_code == 404
    assert signed_in.delete(f"/api/v1/saved-searches/{mine.json['id']}", headers=headers).status_code == 204
    assert client.application.test_client().get("/api/v1/saved-searches", headers=read_headers).status_code == 403


def test_cli_search(tmp_path, store_url):
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "d"), "PATH": "/usr/bin:/bin", "PLATLOGS_STORE": store_url}
    path = tmp_path / "e.ndjson"
    path.write_bytes(b"".join(orjson.dumps(ev(i, message=f"hello {i}", log={"level": "error" if i % 2 else "info"}))
                              + b"\n" for i in range(10)))
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run([*cli, "ingest", str(path)], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "search", "log.level:error", "--from", "", "--format", "ndjson"], env=env,
                         capture_output=True, check=True).stdout.splitlines()
    assert [orjson.loads(line)["event"]["id"] for line in out] == ["e9", "e7", "e5", "e3", "e1"]
    table = subprocess.run([*cli, "search", "hello", "--from", "", "--size", "3"], env=env, capture_output=True, text=True)
    assert table.returncode == 0 and table.stdout.count("hello") == 3 and "(3 events)" in table.stderr
    bad = subprocess.run([*cli, "search", "acter.id:1"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "did you mean 'actor.id'" in bad.stderr and "position 0" in bad.stderr


def test_size_zero_asks_only_for_counts(client, read_headers, story):
    body = get(client, read_headers, "/api/v1/search", q="noise", size=0, facets="actor.id").json
    assert body["hits"] == [] and body["next_cursor"] is None
    assert body["total"] == {"value": 30, "exact": True} and body["facets"]["actor.id"][0]["count"] == 30
