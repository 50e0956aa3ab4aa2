"""The reading trail fails closed: a read whose trail record is not stored is not answered (JSON 503,
or a page saying the read was not recorded), and the trail takes every query the search takes
(control characters are written visibly escaped, `\\u0001`)."""
from __future__ import annotations

import pytest

from app.query import parse
from app.storage import SearchRequest
from conftest import make_persona

T = "2026-11-20T10:00:00.000Z"
WINDOW = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
SMALL = {"@timestamp": T, "message": "login ok", "event": {"id": "e-1"}, "actor": {"type": "player", "id": "p-1"}}


def trail(services, action: str) -> list[dict]:
    return services.trail.search(SearchRequest(query=parse(f"event.type:access AND event.action:{action}"),
                                               size=100)).hits


@pytest.fixture
def stored(client, ingest_headers):
    assert client.post("/api/v1/events", json=[SMALL], headers=ingest_headers).json["accepted"] == 1


def test_a_query_with_a_control_character_is_answered_and_recorded_visibly(app, services, stored):
    auditor = make_persona(app, "auditor")
    q = "login\x01ok OR p-1"
    response = auditor.get("/api/v1/search", query_string={"q": q, **WINDOW})
    assert response.status_code == 200
    [search] = [e for e in trail(services, "search") if "\\u0001" in e["labels"].get("q", "")]
    assert search["labels"]["q"] == "login\\u0001ok OR p-1"
    assert "login\\u0001ok" in search["message"]
    export = auditor.get("/api/v1/export", query_string={"q": "p-1 OR \x01x\x7f", "format": "csv", **WINDOW})
    assert export.status_code == 200 and b"p-1" in export.get_data()
    [started] = trail(services, "export")
    assert started["labels"]["q"] == "p-1 OR \\u0001x\\u007f" and started["labels"]["format"] == "csv"
    [finished] = trail(services, "export_finished")
    assert finished["labels"]["rows"] == "1"
    timeline = auditor.get("/api/v1/timeline", query_string={"by": "actor.id", "value": "p-1\x02", **WINDOW})
    assert timeline.status_code == 200
    # (the timeline's query is written by app/query/quoting.term: the value quoted)
    assert trail(services, "timeline")[0]["labels"]["q"] == 'actor.id:"p-1\\u0002"'


READS = [
    ("/api/v1/search", {"q": "p-1"}),
    ("/api/v1/events", {"q": "p-1"}),
    ("/api/v1/events/e-1", {}),
    ("/api/v1/events/e-1/context", {}),
    ("/api/v1/timeline", {"by": "actor.id", "value": "p-1"}),
    ("/api/v1/export", {"q": "p-1", "format": "csv"}),
    ("/api/v1/export", {"q": "p-1", "format": "ndjson"}),
]
PAGES = [
    ("/", {"q": "p-1"}), ("/events/e-1", {}), ("/events/e-1/context", {}),
    ("/timeline", {"by": "player", "value": "p-1"}), ("/errors", {}), ("/players", {"player": "p-1"}),
    ("/admin-operations", {}), ("/api-activity", {}), ("/integrations", {}), ("/tail/stream", {"q": "p-1"}),
]


class TestARefusedTrail:
    """The trail refuses its records (a real refusal: the trail's events have more fields than this
    store accepts, while the small test events still fit)."""

    @pytest.fixture
    def env(self, tmp_path):
        return {"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_MAX_FIELDS_PER_EVENT": "10"}

    def test_a_read_whose_trail_record_is_refused_is_not_answered(self, app, services, stored):
        administrator = make_persona(app, "administrator")
        for url, params in READS:
            response = administrator.get(url, query_string={**params, **WINDOW})
            assert response.status_code == 503, url
            body = response.get_data(as_text=True)
            assert "not recorded" in response.json["error"]["message"], url
            assert "login ok" not in body and "p-1\"" not in body, url
        for url, params in PAGES:
            response = administrator.get(url, query_string={**params, **WINDOW})
            assert response.status_code == 503, url
            page = response.get_data(as_text=True)
            assert "not recorded" in page and "login ok" not in page, url
        reveal = administrator.post("/api/v1/events/e-1/reveal", json={"field": "actor.name", "reason": "a call"},
                                    headers={"X-CSRFToken": _csrf(administrator)})
        assert reveal.status_code == 503
        assert trail(services, "search") == [] and trail(services, "export") == []


def _csrf(client) -> str:
    """A CSRF token from a page that reads no events (users are administration, not reading)."""
    from conftest import csrf_token
    return csrf_token(client.get("/admin/users").get_data(as_text=True))


def test_a_trail_store_that_refuses_writes_fails_reads_closed(tmp_path, request):
    """A real OpenSearch trail whose index is blocked for writes: reads answer 503 from then on."""
    from opensearchpy import OpenSearch

    from app import create_app
    from conftest import store_url_for
    trail_url = store_url_for("opensearch", tmp_path, request)
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_TRAIL_STORE": trail_url})
    node = OpenSearch(request.getfixturevalue("opensearch_url"))
    prefix = trail_url.rsplit("prefix=", 1)[1].split("&")[0]
    try:
        auditor = make_persona(app, "auditor")
        assert auditor.get("/api/v1/search", query_string={"q": "first"}).status_code == 200   # recorded
        node.indices.put_settings(index=f"{prefix}-*", body={"index.blocks.write": True})
        refused = auditor.get("/api/v1/search", query_string={"q": "second"})
        assert refused.status_code == 503 and "not recorded" in refused.json["error"]["message"]
        assert refused.headers["Retry-After"].isdigit()   # a passing outage: clients may retry
        assert auditor.get("/api/v1/export", query_string={"format": "csv"}).status_code == 503
        page = auditor.get("/", query_string={"q": "third"})
        assert page.status_code == 503 and "not recorded" in page.get_data(as_text=True)
        assert page.headers["Retry-After"].isdigit()
    finally:
        node.indices.put_settings(index=f"{prefix}-*", body={"index.blocks.write": False})
        node.close()
        app.extensions["platlogs"].close()
