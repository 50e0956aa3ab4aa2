"""The search page, the event page and the live tail, through the Flask test client on a real
store: every link the page offers does what it says."""
from __future__ import annotations

import html
import re
import threading
import time

import orjson
import pytest

from conftest import csrf_token

DAY = "2026-11-20"
WINDOW = {"from": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}


def ev(minute: int, i: int, **fields) -> dict:
    base = {"@timestamp": f"{DAY}T{minute // 60:02d}:{minute % 60:02d}:{i % 60:02d}.000Z",
            "event": {"id": f"s{minute}-{i}"}}
    base.update(fields)
    return base


@pytest.fixture
def world(client, ingest_headers):
    events = [ev(60 + i, i, message=f"deposit {i} approved", service={"name": "payments" if i % 3 else "wallet"},
                 log={"level": "error" if i % 5 == 0 else "info"}, actor={"type": "player", "id": f"p-{i % 4}",
                                                                         "email": f"player{i % 4}@example.com"},
                 correlation={"id": f"c-{i % 7}"})
              for i in range(120)]
    assert client.post("/api/v1/events", json=events, headers=ingest_headers).json["accepted"] == 120
    return events


def links(page: str, css_class: str) -> list[tuple[str, str]]:
    return [(html.unescape(href), html.unescape(text)) for href, text in
            re.findall(rf'<a class="{css_class}" href="([^"]+)"[^>]*>([^<]*)</a>', page)]


def total(page: str) -> int:
    return int(re.search(r"<strong>([\d,]+)\+?</strong> events", page).group(1).replace(",", ""))


def test_facet_include_and_exclude_links_narrow_the_search(signed_in, world):
    page = signed_in.get("/", query_string={"q": "deposit", **WINDOW}).get_data(as_text=True)
    assert total(page) == 120
    includes = dict((text, href) for href, text in links(page, "include"))
    wallet = signed_in.get(includes["wallet"]).get_data(as_text=True)
    assert total(wallet) == 40 and 'service.name:&#34;wallet&#34;' in wallet
    excludes = [href for href, _ in links(page, "exclude") if "wallet" in href]
    assert total(signed_in.get(excludes[0]).get_data(as_text=True)) == 80


def test_histogram_bars_zoom_to_their_bucket(signed_in, world):
    page = signed_in.get("/", query_string={"q": "", **WINDOW}).get_data(as_text=True)
    bars = re.findall(r'<a href="([^"]+)" data-start-ms="(\d+)"><rect[^>]*><title>([^<]+)</title>', page)
    counted = [(html.unescape(href), int(title.rsplit(": ", 1)[1].split()[0].replace(",", "")))
               for href, _, title in bars]
    assert len(counted) > 10 and sum(n for _, n in counted) == 120
    href, expected = max(counted, key=lambda b: b[1])
    assert total(signed_in.get(href).get_data(as_text=True)) == expected


def test_a_bad_query_is_shown_at_its_position_and_the_page_answers(signed_in, world):
    response = signed_in.get("/", query_string={"q": "log.level:error AND (", **WINDOW})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'role="alert"' in page
    assert re.search(r"\^ position 21", page)


def test_chosen_columns_and_paging(signed_in, world):
    redirected = signed_in.get("/", query_string={"col": ["actor.id", "correlation.id"], **WINDOW})
    assert redirected.status_code == 302 and "cols=actor.id" in redirected.headers["Location"]
    page = signed_in.get(redirected.headers["Location"]).get_data(as_text=True)
    assert re.findall(r"<th>([^<]+)</th>", page)[:2] == ["actor.id", "correlation.id"]
    first = signed_in.get("/", query_string={**WINDOW, "cols": "@timestamp"}).get_data(as_text=True)
    older = html.unescape(re.search(r'<a rel="next" href="([^"]+)"', first).group(1))
    second = signed_in.get(older).get_data(as_text=True)
    ids = lambda p: re.findall(r"/events/(s[\d-]+)", p)  # noqa: E731
    assert len(ids(first)) == 50 and len(ids(second)) == 50 and not set(ids(first)) & set(ids(second))


def test_saved_search_from_the_page(signed_in, world):
    page = signed_in.get("/", query_string={"q": "deposit", **WINDOW}).get_data(as_text=True)
    response = signed_in.post("/saved-searches", data={"csrf_token": csrf_token(page), "name": "Deposits",
                                                       "q": "deposit", "from": WINDOW["from"], "to": ""})
    assert response.status_code == 302
    again = signed_in.get("/", query_string=WINDOW).get_data(as_text=True)
    assert "Deposits" in again
    refused = signed_in.post("/saved-searches", data={"name": "x", "q": "deposit"})   # no CSRF token
    assert refused.status_code == 400


def test_event_page_shows_every_field_and_the_ways_to_investigate(signed_in, world, services):
    page = signed_in.get("/events/s61-1").get_data(as_text=True)
    for field in ("actor.id", "correlation.id", "service.name", "event.ingested", "message"):
        assert f'<th scope="row">{field}</th>' in page
    assert "/events/s61-1/context?by=correlation.id" in page and "/events/s61-1/context\"" in page
    assert "p***@example.com" in page and "player1@example.com" not in page   # operations: masked, no reveal
    assert "reveal" not in page.lower().replace("revealed", "")
    around = signed_in.get("/events/s61-1/context", query_string={"by": "correlation.id"}).get_data(as_text=True)
    shown = set(re.findall(r"/events/(s[\d-]+)\"", around))
    expected = {e["event"]["id"] for e in world if e["correlation"]["id"] == "c-1"}
    assert shown == expected


def test_support_reveals_from_the_event_page(client, services, world):
    services.meta.create_user("sue", "support", "sue-password-1")
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"username": "sue", "password": "sue-password-1", "csrf_token": csrf_token(page)})
    page = client.get("/events/s61-1").get_data(as_text=True)
    assert "p***@example.com" in page and 'name="reason"' in page
    shown = client.post("/events/s61-1/reveal", data={"csrf_token": csrf_token(page), "field": "actor.email",
                                                      "reason": "verifying the caller, ticket 7"})
    assert shown.status_code == 200 and "player1@example.com" in shown.get_data(as_text=True)


def test_live_tail_streams_new_matching_events(signed_in, client, ingest_headers):
    page = signed_in.get("/tail", query_string={"q": "log.level:error"}).get_data(as_text=True)
    assert 'id="tail"' in page and "/tail/stream?q=log.level" in page
    response = signed_in.get("/tail/stream", query_string={"q": "log.level:error"}, buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")

    def ingest():
        time.sleep(0.3)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 1))
        client.post("/api/v1/events", headers=ingest_headers, json=[
            {"@timestamp": now, "message": "<b>tail me</b>", "log": {"level": "error"}, "event": {"id": "tail-1"}},
            {"@timestamp": now, "message": "not an error", "log": {"level": "info"}, "event": {"id": "tail-2"}}])

    threading.Thread(target=ingest).start()
    deadline = time.time() + 10
    for chunk in chunks:
        if b"data: " in chunk:
            data = orjson.loads(chunk.split(b"data: ", 1)[1].split(b"\n")[0])
            assert [e["id"] for e in data["events"]] == ["tail-1"]
            assert "<b>tail me</b>" in data["events"][0]["cells"]   # raw text: the page sets it as text
            break
        assert time.time() < deadline, "no event arrived"
    response.close()
