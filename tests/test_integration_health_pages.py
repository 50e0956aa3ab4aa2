"""Integration health pages and JSON (issue 14.1): a manager lands on /health after signing in and
sees the demo's outage at a glance; a provider's page has its incidents with links to the events
and to the alerts that fired; the JSON is the page's service; annotations by role; bad input is
a 4xx, hostile names are escaped."""
from __future__ import annotations

import random
import re
from html import unescape
from urllib.parse import quote
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from app import create_app
from app.meta.alert_tables import AlertInstance
from conftest import make_persona

pytestmark = pytest.mark.usefixtures("cheap_hashes")

EVENTS, DAYS, SEED = 6_000, 2, 5
END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
END_MS = int(END.timestamp() * 1000)
MIN = 60_000
HOSTILE = "<script>alert(1)</script>"


def planted() -> tuple[str, int, int]:
    from app.demo.generator import _Sim
    sim = _Sim(EVENTS, END_MS - DAYS * 86_400_000, END_MS, random.Random(SEED))
    sim.incidents(1.0)
    return sim.out_prov, sim.out_s, sim.out_e


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from app.demo.generator import generate
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("health-pages"))})
    services = app.extensions["platlogs"]
    lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(EVENTS, days=DAYS, seed=SEED, end=END)))
    assert services.ingestor.ingest(lines, position="line").accepted == EVENTS
    hostile = {"@timestamp": "2026-11-20T11:00:00.000Z", "message": "x",
               "event": {"component": "integration", "type": "provider_request"},
               "integration": {"provider": "<script>alert(1)</script>", "kind": "other", "status": "ok",
                               "duration": 5.0}}
    assert services.ingestor.ingest([(0, hostile)]).accepted == 1
    yield app
    services.close()


@pytest.fixture
def at(monkeypatch):
    def set_now(ms: int):
        monkeypatch.setattr("app.web.health._now", lambda: ms)
    set_now(END_MS)
    return set_now


_n = iter(range(10_000))


def persona(app, role):
    return make_persona(app, role, f"{role}-{next(_n)}")


def tiles(html: str) -> list[tuple[str, str]]:
    return [(status, unescape(name)) for status, name in re.findall(r'<a class="tile tile-(\w+)[^"]*" href="[^"]*" data-provider="([^"]*)"', html)]


def test_a_manager_lands_on_the_dashboard_and_sees_the_outage_at_a_glance(app, at):
    from conftest import sign_in
    prov, out_s, out_e = planted()
    app.extensions["platlogs"].meta.create_user("mia", "manager", "persona-password-1")
    client = app.test_client()
    response = sign_in(client, "mia", "persona-password-1")
    assert response.headers["Location"] == "/health"
    at(out_s + 20 * MIN)                         # during the outage: that provider down, first
    html = client.get("/health").get_data(as_text=True)
    shown = tiles(html)
    assert shown[0] == ("down", prov)
    # every other provider up (the hostile one's only call comes later: not seen yet, unknown)
    assert {name: status for status, name in shown if status != "up"} == {prov: "down", HOSTILE: "unknown"}
    assert "1 down" in html
    at(END_MS)                                   # after it: recovered, still first, the incident said
    html = client.get("/health").get_data(as_text=True)
    assert tiles(html)[0] == ("up", prov) and "Recovered" in html


def test_the_provider_page_lists_the_incident_with_links_to_events_and_alerts(app, at):
    prov, out_s, out_e = planted()
    services = app.extensions["platlogs"]
    fired = datetime.fromtimestamp((out_s + 10 * MIN) / 1000, tz=timezone.utc)
    with services.meta.Session() as s:
        s.add(AlertInstance(rule_id="integration-failing-per-provider", group_key=prov, state="resolved",
                            first_seen_at=fired, last_seen_at=fired, fired_at=fired,
                            resolved_at=fired + timedelta(minutes=30)))
        s.commit()
    client = persona(app, "technical")
    response = client.get(f"/health/{quote(prov)}?from=now-2d")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<td><span class=\"pill pill-down\">down</span></td>") == 1
    assert "integration-failing-per-provider (resolved)" in html and "/alerts/history?alert=" in html
    assert 'data-chart=' in html and "failed calls" in html
    api = client.get(f"/api/v1/integrations/health/{quote(prov)}?from=now-2d").json
    [incident] = api["incidents"]
    assert abs(incident["duration_ms"] - (out_e - out_s)) <= 3 * MIN
    assert incident["alerts"][0]["rule_id"] == "integration-failing-per-provider"
    assert "integration.provider:" in incident["search"]["q"]


def test_the_json_is_the_page_and_read_keys_may_have_it(app, at):
    services = app.extensions["platlogs"]
    key = services.meta.create_key("health reader", ["read"])[1]
    client = app.test_client()
    board = client.get("/api/v1/integrations/health", headers={"Authorization": f"Bearer {key}"})
    assert board.status_code == 200
    names = [t["provider"] for g in board.json["groups"] for t in g["tiles"]]
    assert names == [name for _, name in tiles(persona(app, "manager").get("/health").get_data(as_text=True))]
    assert client.get("/api/v1/integrations/health").status_code == 401


@pytest.mark.parametrize("query, message", [
    ("from=now-100d", "at most 90 days"), ("from=yesterday-ish", "from:"), ("from=now-1d&to=now-2d", "before"),
    ("from=now%2B1d&to=now%2B2d", "before now"), ("to=" + "9" * 40, "to:"),
])
def test_a_bad_range_is_a_400_said_on_the_page_and_in_json(app, at, query, message):
    prov = planted()[0]
    client = persona(app, "auditor")
    page = client.get(f"/health/{quote(prov)}?{query}")
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    api = client.get(f"/api/v1/integrations/health/{quote(prov)}?{query}")
    assert api.status_code == 400 and message in api.json["error"]["message"]


def test_unknown_providers_are_404_and_hostile_names_are_escaped(app, at):
    client = persona(app, "operations")
    assert client.get("/health/NoSuchProvider").status_code == 404
    assert client.get("/api/v1/integrations/health/" + "x" * 300).status_code == 404
    html = client.get("/health").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = client.get("/health/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.status_code == 200 and "<script>alert(1)</script>" not in page.get_data(as_text=True)


def test_annotations_by_role_and_validated(app, at):
    from conftest import csrf_token
    prov = planted()[0]
    manager = persona(app, "manager")
    page = manager.get(f"/health/{quote(prov)}").get_data(as_text=True)
    token = csrf_token(page)
    saved = manager.post(f"/health/{quote(prov)}/annotation", data={"owner": "Payments team", "slo_target": "99.9",
                                                            "quiet_at_night": "on", "csrf_token": token})
    assert saved.status_code == 302
    data = manager.get(f"/api/v1/integrations/health/{quote(prov)}").json
    assert (data["owner"], data["slo_target"], data["quiet_at_night"], data["slo_own"]) == ("Payments team", 99.9,
                                                                                          True, True)
    bad = manager.post(f"/health/{quote(prov)}/annotation", data={"slo_target": "lots", "csrf_token": token})
    assert bad.status_code == 400 and "slo_target" in bad.get_data(as_text=True)
    assert manager.put(f"/api/v1/integrations/health/{quote(prov)}/annotation", json={"slo_target": 120},
                       headers={"X-CSRFToken": token}).status_code == 400
    assert manager.put(f"/api/v1/integrations/health/{quote(prov)}/annotation", json={"owner": "x", "quiet_at_night": "yes"},
                       headers={"X-CSRFToken": token}).status_code == 400
    assert manager.post("/health/NoSuchProvider/annotation", data={"csrf_token": token}).status_code == 404
    security = persona(app, "security")
    sec_token = csrf_token(security.get(f"/health/{quote(prov)}").get_data(as_text=True))
    assert security.post(f"/health/{quote(prov)}/annotation", data={"owner": "me", "csrf_token": sec_token}).status_code == 403
    assert "Payments team" in security.get(f"/health/{quote(prov)}").get_data(as_text=True)


def test_support_may_not_see_integration_health(app, at):
    client = persona(app, "support")
    assert client.get("/health").status_code == 403
    assert client.get("/api/v1/integrations/health").status_code == 403


def test_a_code_link_finds_exactly_that_codes_calls_whatever_the_code_holds(tmp_path, at):
    """The links of "Answers by code" are query-language terms (quoting.term), not JSON: a status
    with quotes, a backslash and an apostrophe finds its own calls and no other."""
    from urllib.parse import parse_qs, urlsplit
    odd = 'odd "code" \\ it\'s'
    quirky = create_app({"PLATLOGS_DATA_DIR": str(tmp_path)})
    services = quirky.extensions["platlogs"]
    calls = [{"@timestamp": f"2026-11-20T11:{m:02d}:00.000Z", "message": "call",
              "event": {"component": "integration", "type": "provider_request"},
              "integration": {"provider": "Quirky", "kind": "payment", "status": status, "duration": 5.0}}
             for m, status in enumerate([odd, odd, "ok", "odd", "timeout"])]
    assert services.ingestor.ingest(list(enumerate(calls))).accepted == 5
    try:
        client = persona(quirky, "technical")
        html = client.get("/health/Quirky?from=now-1d").get_data(as_text=True)
        codes = html.split("<h2>Answers by code</h2>", 1)[1].split("</table>", 1)[0]
        links = {unescape(text): unescape(href) for href, text in re.findall(r'<a href="([^"]*)">([^<]*)</a>', codes)}
        assert set(links) == {odd, "odd", "ok", "timeout"}
        for code, href in links.items():
            args = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
            found = client.get("/api/v1/search", query_string={**args, "size": 50}).json
            assert found["total"]["value"] == sum(1 for c in calls if c["integration"]["status"] == code), (code, args["q"])
    finally:
        services.close()
