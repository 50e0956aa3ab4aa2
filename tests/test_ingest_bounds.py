"""Issue 11: one bad item never sinks its neighbours, repeated keys are refused, a gzip body is
bounded, and blank lines cost nothing. (Embedded store: this is the ingest path, not storage.)"""
from __future__ import annotations

import gzip

import orjson
import pytest

from app import create_app


def ev(i: int, **extra) -> dict:
    return {"message": f"item {i}", "event": {"id": f"b-{i}"}, **extra}


def test_a_deeply_nested_item_is_refused_alone(client, ingest_headers):
    """orjson parses 300 levels but cannot serialise them again: this was a 500 for the batch."""
    deep = b'{"message":"deep","x":' + b'{"n":' * 300 + b"1" + b"}" * 301
    body = b"[" + b",".join([orjson.dumps(ev(0)), deep, orjson.dumps(ev(2))]) + b"]"
    response = client.post("/api/v1/events", data=body, headers=ingest_headers, content_type="application/json")
    assert response.status_code == 207, response.json
    assert response.json["accepted"] == 2 and response.json["errors"][0]["index"] == 1
    assert "nested" in response.json["errors"][0]["reason"]


def test_an_item_too_deep_for_any_parser_is_refused_alone(client, ingest_headers):
    body = b'[{"message":"a"},{"x":' + b"[" * 5000 + b"]" * 5000 + b'},{"message":"c"}]'
    response = client.post("/api/v1/events", data=body, headers=ingest_headers, content_type="application/json")
    assert response.status_code == 207, response.json
    assert response.json["accepted"] == 2
    assert [e["index"] for e in response.json["errors"]] == [1]


def test_a_broken_item_is_refused_alone_and_items_before_a_hopeless_error_are_kept(client, ingest_headers):
    body = b'[{"message":"a"}, {"message": tru}, {"message":"c"}, {"message": "d"]}, {"message":"e"}]'
    response = client.post("/api/v1/events", data=body, headers=ingest_headers, content_type="application/json")
    assert response.status_code == 207, response.json
    assert response.json["accepted"] == 2
    errors = response.json["errors"]
    assert errors[0]["index"] == 1 and errors[0]["reason"].startswith("malformed JSON")
    assert errors[1]["index"] == 3 and "cannot be told apart" in errors[1]["reason"]


def test_a_repeated_key_is_refused_with_its_path(client, ingest_headers, read_headers):
    body = b'[{"message":"ok","event":{"id":"keep-1"}}, {"message":"x","event":{"id":"mine","id":"other"}}]'
    response = client.post("/api/v1/events", data=body, headers=ingest_headers, content_type="application/json")
    assert response.status_code == 207, response.json
    assert response.json["errors"] == [{"index": 1, "field": "event.id",
                                        "reason": response.json["errors"][0]["reason"]}]
    assert "given twice" in response.json["errors"][0]["reason"]
    one = client.post("/api/v1/events", data=b'{"message": "a", "message" : "b"}', headers=ingest_headers,
                      content_type="application/json")
    assert one.status_code == 400 and one.json["errors"][0]["field"] == "message"
    lines = b'{"message":"fine"}\n{"event":{"id":"x"},"event":{"id":"y"}}\n{"m":"\\":","message":"also fine"}\n'
    bulk = client.post("/api/v1/events/bulk", data=lines, headers=ingest_headers)
    assert bulk.status_code == 207 and bulk.json["accepted"] == 2
    assert bulk.json["errors"][0]["line"] == 2 and bulk.json["errors"][0]["field"] == "event"


def test_a_gzip_bomb_is_cut_short_with_413(client, ingest_headers):
    bomb = gzip.compress(b"\n" * (100 << 20), 9)
    assert len(bomb) < 200_000
    headers = {**ingest_headers, "Content-Encoding": "gzip"}
    bulk = client.post("/api/v1/events/bulk", data=bomb, headers=headers)
    assert bulk.status_code == 413 and "PLATLOGS_MAX_GZIP_RATIO" in bulk.json["errors"][-1]["reason"]
    whole = client.post("/api/v1/events", data=bomb, headers=headers, content_type="application/json")
    assert whole.status_code == 413 and "PLATLOGS_MAX_GZIP_RATIO" in whole.json["error"]["message"]


def test_a_gzip_body_is_bounded_in_size(tmp_path):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_MAX_INFLATED_BYTES": "100000"})
    key = app.extensions["platlogs"].meta.create_key("k", ["ingest"])[1]
    lines = b"".join(orjson.dumps(ev(i)) + b"\n" for i in range(5000))
    response = app.test_client().post("/api/v1/events/bulk", data=gzip.compress(lines),
                                      headers={"Authorization": f"Bearer {key}", "Content-Encoding": "gzip"})
    assert response.status_code == 207
    assert 0 < response.json["accepted"] < 5000
    assert "PLATLOGS_MAX_INFLATED_BYTES" in response.json["errors"][-1]["reason"]
    app.extensions["platlogs"].close()


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"  \n"])
def test_runs_of_blank_lines_keep_line_numbers(client, ingest_headers, blank):
    body = blank * 100_000 + b'{"message":"one"}\n' + blank * 3 + b"nope\n" + blank * (3 << 20)
    response = client.post("/api/v1/events/bulk", data=body, headers=ingest_headers)
    assert response.status_code == 207
    assert response.json["errors"][0]["line"] == 100_005


def test_events_older_than_the_configured_age_are_refused(tmp_path):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_MAX_EVENT_AGE_DAYS": "30"})
    key = app.extensions["platlogs"].meta.create_key("k", ["ingest"])[1]
    items = [ev(0), ev(1, **{"@timestamp": "2001-01-01T00:00:00Z"})]
    response = app.test_client().post("/api/v1/events", json=items, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 207
    assert response.json["errors"] == [{"index": 1, "field": "@timestamp",
                                        "reason": "@timestamp is more than 30 days old (PLATLOGS_MAX_EVENT_AGE_DAYS)"}]
    app.extensions["platlogs"].close()


@pytest.mark.parametrize("body", [b"null", b"1", b'"x"', b"[null, 2]"])
def test_items_that_are_not_objects_are_refused_not_500(client, ingest_headers, body):
    response = client.post("/api/v1/events", data=body, headers=ingest_headers, content_type="application/json")
    assert response.status_code == 400 and "expected a JSON object" in response.json["errors"][0]["reason"]
