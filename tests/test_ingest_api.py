"""The ingest API, on each backend: every item is reported, bad items never take good ones down."""
from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

GOOD = {"message": "player logged in", "actor": {"type": "player", "id": "p-1"}, "event": {"action": "login"}}


@pytest.fixture
def env(tmp_path, store_url):
    return {"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": store_url}


def bulk(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


# -- authentication ---------------------------------------------------------------------

def test_ingest_needs_a_key(client):
    response = client.post("/api/v1/events", json=GOOD)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json["error"]["message"]


def test_wrong_or_revoked_keys_are_refused(client, services, read_headers):
    assert client.post("/api/v1/events", json=GOOD, headers={"Authorization": "Bearer plk_nope"}).status_code == 401
    refused = client.post("/api/v1/events", json=GOOD, headers=read_headers)
    assert refused.status_code == 403 and "'ingest' scope" in refused.json["error"]["message"]
    row, key = services.meta.create_key("short-lived", ["ingest"])
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/events", json=GOOD, headers=headers).status_code == 200
    services.meta.revoke_key(row.id)
    assert client.post("/api/v1/events", json=GOOD, headers=headers).status_code == 401


def test_keys_are_stored_hashed(services, ingest_key):
    db = Path(services.settings.data_dir, "meta.db").read_bytes()
    assert ingest_key.encode() not in db


# -- /api/v1/events ---------------------------------------------------------------------

def test_one_object_is_stored_and_readable(client, ingest_headers, read_headers):
    response = client.post("/api/v1/events", json={**GOOD, "event": {"action": "login", "id": "evt-1"}},
                           headers=ingest_headers)
    assert response.status_code == 200
    assert response.json == {"accepted": 1, "rejected": 0, "duplicates": 0, "errors": []}
    stored = client.get("/api/v1/events/evt-1", headers=read_headers).json
    assert stored["event"]["component"] == "user_activity" and stored["event"]["type"] == "login"
    assert stored["message"] == "player logged in"


def test_array_with_bad_items_keeps_the_good_ones(client, ingest_headers, services):
    items = [GOOD, "text", {"log": {"level": [7]}}, {"@timestamp": "not a time"}, GOOD, {"x": "\u0000"}]
    response = client.post("/api/v1/events", json=items, headers=ingest_headers)
    assert response.status_code == 207
    body = response.json
    assert body["accepted"] == 2 and body["rejected"] == 4
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 5]
    assert body["errors"][0]["reason"] == "expected a JSON object, got a string"
    assert body["errors"][1]["field"] == "log.level"
    assert services.store.count() == 2


def test_all_bad_is_a_400_with_reasons(client, ingest_headers):
    response = client.post("/api/v1/events", json=[{"actor": {"type": "alien"}}], headers=ingest_headers)
    assert response.status_code == 400 and response.json["errors"][0]["field"] == "actor.type"


@pytest.mark.parametrize("body,expected", [
    (b'{"message": "unterminated', "malformed JSON"),
    (b"", "empty body"),
    (b'{"message": "\xff\xfe"}', "invalid UTF-8 at byte 13"),
])
def test_unreadable_bodies_are_400_with_reason(client, ingest_headers, body, expected):
    response = client.post("/api/v1/events", data=body, headers={**ingest_headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and expected in response.json["error"]["message"]


def test_an_unreadable_item_of_an_array_is_refused_by_index(client, ingest_headers):
    response = client.post("/api/v1/events", data=b'[{"a": NaN}]',
                           headers={**ingest_headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["errors"][0]["index"] == 0
    assert "malformed JSON" in response.json["errors"][0]["reason"]


def test_oversized_event_is_413_and_neighbours_survive(client, ingest_headers):
    big = {"message": "x" * 70_000}
    alone = client.post("/api/v1/events", json=big, headers=ingest_headers)
    assert alone.status_code == 413 and "over the limit of 65536" in alone.json["errors"][0]["reason"]
    mixed = client.post("/api/v1/events", json=[GOOD, big, GOOD], headers=ingest_headers)
    assert mixed.status_code == 207 and mixed.json["accepted"] == 2


def test_body_over_the_request_limit_is_413(tmp_path):
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_MAX_REQUEST_BYTES": "2048"})
    key = app.extensions["platlogs"].meta.create_key("k", ["ingest"])[1]
    response = app.test_client().post("/api/v1/events", json=[GOOD] * 100, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 413 and "/api/v1/events/bulk" in response.json["error"]["message"]


def test_bulk_is_not_bound_by_the_request_limit(tmp_path):
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_MAX_REQUEST_BYTES": "4096"})
    key = app.extensions["platlogs"].meta.create_key("k", ["ingest"])[1]
    body = b"".join(orjson.dumps({"message": f"m{i}"}) + b"\n" for i in range(2000))  # ~40 KB, with Content-Length
    response = app.test_client().post("/api/v1/events/bulk", data=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json["accepted"] == 2000
    app.extensions["platlogs"].close()


def test_gzip_bodies(client, ingest_headers):
    body = gzip.compress(orjson.dumps([GOOD, GOOD]))
    response = client.post("/api/v1/events", data=body, headers={**ingest_headers, "Content-Encoding": "gzip"})
    assert response.json["accepted"] == 2
    bad = client.post("/api/v1/events", data=b"not gzip", headers={**ingest_headers, "Content-Encoding": "gzip"})
    assert bad.status_code == 400 and "gzip" in bad.json["error"]["message"]
    odd = client.post("/api/v1/events", data=b"{}", headers={**ingest_headers, "Content-Encoding": "br"})
    assert odd.status_code == 415


# -- /api/v1/events/bulk ----------------------------------------------------------------

def test_bulk_reports_each_bad_line_by_number(client, ingest_headers, services):
    lines = [
        orjson.dumps(GOOD),                        # 1
        b"",                                       # 2 blank: ignored
        b"{broken",                                # 3
        b'{"message": "\xc3\x28"}',                # 4 invalid UTF-8
        b"[1, 2]",                                 # 5 not an object
        orjson.dumps({"message": "x" * 70_000}),   # 6 oversized
        orjson.dumps({"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": {"n": 1}}}}}}}}}),  # 7 too deep
        orjson.dumps({"message": "bell \u0007"}),  # 8 control character
        orjson.dumps({"http": {"response": {"status_code": "OK"}}}),  # 9 wrong type
        orjson.dumps(GOOD),                        # 10
    ]
    response = client.post("/api/v1/events/bulk", data=bulk(lines), headers=ingest_headers)
    body = response.json
    assert response.status_code == 207
    assert body["accepted"] == 2 and body["rejected"] == 7
    reasons = {e["line"]: e["reason"] for e in body["errors"]}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert reasons[3].startswith("malformed JSON")
    assert reasons[4] == "invalid UTF-8 at byte 13"
    assert reasons[5] == "expected a JSON object, got an array"
    assert reasons[6] == f"event is {len(lines[5])} bytes, over the limit of 65536"
    assert "nested deeper" in reasons[7] and "control character U+0007" in reasons[8]
    assert "expected an integer" in reasons[9]
    assert services.store.count() == 2


def test_bulk_last_line_without_newline_and_crlf(client, ingest_headers):
    body = orjson.dumps(GOOD) + b"\r\n" + orjson.dumps(GOOD)
    assert client.post("/api/v1/events/bulk", data=body, headers=ingest_headers).json["accepted"] == 2


def test_bulk_reingest_with_client_ids_is_idempotent(client, ingest_headers, services):
    lines = [orjson.dumps({**GOOD, "event": {"id": f"evt-{i}", "action": "login"}}) for i in range(50)]
    first = client.post("/api/v1/events/bulk", data=bulk(lines), headers=ingest_headers).json
    second = client.post("/api/v1/events/bulk", data=bulk(lines), headers=ingest_headers).json
    assert first == {"accepted": 50, "rejected": 0, "duplicates": 0, "errors": []}
    assert second == {"accepted": 50, "rejected": 0, "duplicates": 50, "errors": []}
    assert services.store.count() == 50


def test_bulk_error_list_is_bounded(tmp_path):
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path)})
    services = app.extensions["platlogs"]
    key = services.meta.create_key("k", ["ingest"])[1]
    body = b"x\n" * 1500 + orjson.dumps(GOOD) + b"\n"
    response = app.test_client().post("/api/v1/events/bulk", data=body, headers={"Authorization": f"Bearer {key}"})
    assert response.json["rejected"] == 1500 and response.json["accepted"] == 1
    assert len(response.json["errors"]) == 1000 and response.json["errors_truncated"] is True


def test_bulk_gzip_that_breaks_off_keeps_what_came_before(client, ingest_headers, services):
    import random
    rng = random.Random(7)  # incompressible-ish lines, so the gzip body spans several steps
    lines = [orjson.dumps({**GOOD, "message": f"m {rng.getrandbits(128):x}"}) for i in range(4000)]
    body = gzip.compress(bulk(lines))
    response = client.post("/api/v1/events/bulk", data=body[: len(body) // 2] + b"garbage!" * 64,
                           headers={**ingest_headers, "Content-Encoding": "gzip"})
    report = response.json
    assert 1000 < report["accepted"] < 4000 and report["rejected"] >= 1
    assert "not valid gzip" in report["errors"][-1]["reason"]  # after any half-decoded lines
    assert services.store.count() == report["accepted"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # reads the store's files
def test_pan_never_reaches_the_disk(client, ingest_headers, services):
    pans = ["4111111111111111", "5500005555555559", "378282246310005"]
    lines = [orjson.dumps({"message": f"card {pans[0]} declined", "payment": {"card": {"number": pans[1]}},
                           "note": {"raw": f"{pans[2][:4]} {pans[2][4:10]} {pans[2][10:]}"},
                           "cvv": "123", "event": {"id": "card-evt"}})]
    client.post("/api/v1/events/bulk", data=bulk(lines), headers=ingest_headers)
    client.post("/api/v1/events", json={"password": "hunter2-secret", "card_number": int(pans[0])}, headers=ingest_headers)
    services.store.close()
    stored = b"".join(p.read_bytes() for p in Path(services.settings.data_dir).rglob("*") if p.is_file())
    for pan in pans:
        assert pan.encode() not in stored
        assert pan[:6].encode() in stored  # the masked form is there: the events were stored
    assert b"hunter2-secret" not in stored
