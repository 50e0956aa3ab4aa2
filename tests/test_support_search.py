"""Support pastes what the player sent and finds it (issue 13): a table of pasted values and the
events each must find, run on the embedded store and on OpenSearch with identical answers.

The events are written as a platform would send them (names with accents, IPv6, ids in
capitals, stack traces, labels, changes), through the real normaliser, into one store per
backend (module scope: written once, searched by every case).
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.config import Settings
from app.query.parser import parse
from app.services import build_normalizer
from app.storage import SearchRequest, open_store
from tests.conftest import store_url_for

SEARCH_BACKENDS = ("tantivy", "opensearch")   # the SQLite event store is legacy: bare terms search its text only
BASE = 1_764_000_000_000   # 2025-11-24T16:00Z; one event a minute from here

EVENTS = {
    "E01": {"message": "Player signed in", "event": {"action": "login", "outcome": "success"},
            "actor": {"type": "player", "id": "p-004186", "email": "Niamh.Virtanen44@example.com",
                      "name": "Niamh Virtanen", "ip": "192.0.2.158"},
            "session": {"id": "sess-9F2C"},
            "user_agent": {"original": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                                       "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"}},
    "E02": {"message": "Deposit declined by provider", "event": {"action": "deposit", "outcome": "failure"},
            "actor": {"type": "player", "id": "p-004186"}, "correlation": {"id": "c-77aa"},
            "payment": {"transaction_id": "TX-A58A7C81B9E2", "provider_reference": "pf_4ff81d10eaed",
                        "provider": "Paysafe", "status": "declined", "amount": 150.0, "currency": "EUR"},
            "labels": {"decline_reason": "insufficient_funds"}},
    "E03": {"message": "Withdrawal tx-a58a7c81b9e2 approved", "event": {"action": "withdrawal_approved"},
            "target": {"type": "player", "id": "p-004186"},
            "payment": {"transaction_id": "tx-a58a7c81b9e2", "status": "approved"}},
    "E04": {"message": "Profile updated", "event": {"action": "profile_update"},
            "actor": {"type": "player", "id": "p-000777", "name": "Nguyễn Văn An", "email": "an.nguyen@example.vn"},
            "changes": [{"field": "kyc_status", "old": "pending", "new": "verified"},
                        {"field": "city", "old": "Hà Nội", "new": "Đà Nẵng"}]},
    "E05": {"message": "Bonus granted", "event": {"action": "bonus_granted", "component": "admin_action"},
            "actor": {"type": "employee", "id": "emp-12", "email": "agent.kim@operator.example"},
            "target": {"type": "player", "id": "p-000888", "name": "Mehmet Öztürk"},
            "labels": {"ticket": "ZD-48213"}},
    "E06": {"message": "Login failed: wrong password", "event": {"action": "login_failed", "outcome": "failure"},
            "actor": {"type": "player", "id": "p-000999", "ip": "2001:db8::8a2e:370:7334"}},
    "E07": {"message": "Unhandled exception in deposit confirm", "log": {"level": "error"},
            "service": {"name": "wallet-service"}, "correlation": {"id": "c-77aa"},
            "error": {"type": "java.net.SocketTimeoutException", "message": "Read timed out",
                      "stack_trace": "java.net.SocketTimeoutException: Read timed out\n"
                                     "\tat com.acme.wallet.PaymentGatewayClient.capture(PaymentGatewayClient.java:212)\n"
                                     "\tat com.acme.wallet.DepositService.confirm(DepositService.java:88)"}},
    "E08": {"message": "Evolution debit timed out after 5000 ms",
            "event": {"component": "integration", "type": "provider_request"},
            "integration": {"provider": "Evolution", "kind": "game", "endpoint": "POST /api/v2/wallet/debit",
                            "status": "timeout"},
            "labels": {"provider_ref": "EVO-R-5531-XK"}},
    "E09": {"message": "PUT /api/v1/players/{id}/limits 422", "event": {"component": "api"},
            "url": {"path": "/api/v1/players/p-004186/limits"},
            "http": {"request": {"method": "PUT", "id": "req-0c1e4f6a"}, "response": {"status_code": 422}}},
    "E10": {"message": "Self-exclusion set to 6 months", "event": {"component": "admin_action"},
            "actor": {"type": "employee", "id": "emp-31", "name": "Kim Sørensen"},
            "target": {"type": "player", "id": "p-004186"}, "labels": {"reason": "player_request"}},
    "E11": {"message": "Session closed", "session": {"id": "sess-9F2C"}, "labels": {"reason": "idle_timeout"}},
    "E12": {"message": "Nothing to see", "actor": {"type": "service", "id": "tx-0000"}},
    "E13": {"message": "player_search for niamh.virtanen44@example.com by agent",
            "event": {"component": "admin_action"}, "actor": {"type": "employee", "id": "emp-12"}},
    "E14": {"message": "Trace sampled", "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
            "correlation": {"id": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"}},
    "E15": {"message": "Round settled", "event": {"component": "user_activity", "type": "game_session"},
            "game": {"round_id": "R-2026-11-30-000123", "name": "Book of Dead", "provider": "Play'n GO"}},
}

# what is pasted -> the events it must find (any order here; the store answers newest first)
CASES = [
    ("niamh.virtanen44@example.com", {"E01", "E13"}),
    ("NIAMH.VIRTANEN44@EXAMPLE.COM", {"E01", "E13"}),
    ("actor.email:NIAMH.VIRTANEN44@EXAMPLE.COM", {"E01"}),
    ("actor.email:niamh.virtanen44@example.com", {"E01"}),
    ('"Niamh Virtanen"', {"E01"}),
    ("Virtanen", {"E01"}),
    ("Nguyen", {"E04"}),
    ("Nguyễn", {"E04"}),
    ("Ozturk", {"E05"}),
    ("ÖZTÜRK", {"E05"}),
    ("Sorensen", {"E10"}),
    ("Da Nang", {"E04"}),
    ("192.0.2.158", {"E01"}),
    ("actor.ip:192.0.2.158", {"E01"}),
    ("2001:db8::8a2e:370:7334", {"E06"}),
    ("2001:DB8::8A2E:370:7334", {"E06"}),
    ("2001:0db8:0000:0000:0000:8a2e:0370:7334", {"E06"}),
    ("pf_4ff81d10eaed", {"E02"}),
    ("PF_4FF81D10EAED", {"E02"}),
    ("tx-a58a7c81b9e2", {"E02", "E03"}),
    ("TX-A58A7C81B9E2", {"E02", "E03"}),
    ("payment.transaction_id:TX-A58A7C81B9E2", {"E02", "E03"}),
    ("payment.transaction_id:tx-a58a7c81b9e2", {"E02", "E03"}),
    ("p-004186", {"E01", "E02", "E03", "E09", "E10"}),
    ("P-004186", {"E01", "E02", "E03", "E09", "E10"}),
    ("actor.id:P-004186", {"E01", "E02"}),
    ("idle_timeout", {"E11"}),
    ("kyc_status", {"E04"}),
    ("verified", {"E04"}),
    ('"Pixel 8"', {"E01"}),
    ("insufficient_funds", {"E02"}),
    ('"Read timed out"', {"E07"}),
    ("PaymentGatewayClient", {"E07"}),
    ('"DepositService.confirm"', {"E07"}),
    ("SocketTimeoutException", {"E07"}),
    ("java.net.SocketTimeoutException", {"E07"}),
    ("EVO-R-5531-XK", {"E08"}),
    ("evo-r-5531-xk", {"E08"}),
    ("ZD-48213", {"E05"}),
    ("req-0c1e4f6a", {"E09"}),
    ("422", {"E09"}),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"E14"}),
    ("4BF92F3577B34DA6A3CE929D0E0E4736", {"E14"}),
    ("r-2026-11-30-000123", {"E15"}),
    ('"Book of Dead"', {"E15"}),
    ('"Play\'n GO"', {"E15"}),
    ("Paysafe", {"E02"}),
    ("sess-9f2c", {"E01", "E11"}),
    ("c-77aa", {"E02", "E07"}),
    ("agent.kim@operator.example", {"E05"}),
    ("wallet-service", {"E07"}),
    ('"/api/v2/wallet/debit"', {"E08"}),
    # words must not match inside identifiers
    ("tx", {"E03"}),                 # a word of E03's message; not the transaction ids, not tx-0000
    ("example", {"E13"}),            # inside a message; not inside the e-mail addresses
    ("004186", {"E09"}),             # a segment of E09's URL path; not inside the player ids
    ("a58a7c81b9e2", {"E03"}),       # a word of E03's message only
]

# a reader who sees personal data masked: personal values are found by their whole value only
MASKED_CASES = [
    ("niamh.virtanen44@example.com", {"E01", "E13"}),
    ('"Niamh Virtanen"', {"E01"}),
    ("Virtanen", set()),
    ("Niamh*", {"E13"}),             # the message's word; not a prefix of the personal name
    ("192.0.2.158", {"E01"}),
    ("Nguyen", set()),
    ("p-004186", {"E01", "E02", "E03", "E09", "E10"}),
]


def normalised_events() -> list[dict]:
    import tempfile
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.mkdtemp()})
    normalizer = build_normalizer(settings)
    out = []
    for i, (eid, body) in enumerate(sorted(EVENTS.items())):
        raw = {**body, "event": {**body.get("event", {}), "id": eid}, "@timestamp": BASE + i * 60_000}
        out.append(normalizer.normalize(raw, BASE + 3_600_000))
    return out


@pytest.fixture(scope="module", params=SEARCH_BACKENDS)
def support_store(request, tmp_path_factory):
    store = open_store(store_url_for(request.param, tmp_path_factory.mktemp("support"), request))
    result = store.write(normalised_events())
    assert result.stored == len(EVENTS), result
    if hasattr(store, "refresh"):
        store.refresh()
    yield store
    store.close()


def found(store, query: str, **options) -> list[str]:
    result = store.search(SearchRequest(query=parse(query), size=100, **options))
    ids = [hit["event"]["id"] for hit in result.hits]
    assert result.total == len(ids), (query, result.total, ids)
    return ids


@pytest.mark.parametrize("query,expected", CASES, ids=[c[0] for c in CASES])
def test_a_pasted_value_finds_its_events(support_store, query, expected):
    ids = found(support_store, query)
    assert set(ids) == expected, query
    assert ids == sorted(ids, reverse=True), "newest first"   # ids follow time in this table


@pytest.mark.parametrize("query,expected", MASKED_CASES, ids=[c[0] for c in MASKED_CASES])
def test_a_masked_reader_finds_personal_values_by_the_whole_value_only(support_store, query, expected):
    assert set(found(support_store, query, inside_personal=False)) == expected, query


def test_the_table_is_large_enough():
    assert len(CASES) >= 40


def test_support_finds_a_player_by_the_whole_pasted_value_and_sees_it_masked(app, persona):
    """Through the API as the support role (personal data masked): the whole e-mail finds the
    player's events, a word of the name does not, and the answer shows the e-mail masked."""
    services = app.extensions["platlogs"]
    assert services.store.write(normalised_events()).stored == len(EVENTS)
    support = persona("support")
    everything = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    answer = support.get("/api/v1/search", query_string={"q": "NIAMH.VIRTANEN44@example.com", **everything}).json
    assert {h["event"]["id"] for h in answer["hits"]} == {"E01", "E13"}
    e01 = next(h for h in answer["hits"] if h["event"]["id"] == "E01")
    assert e01["actor"]["email"] != "Niamh.Virtanen44@example.com" and "actor.email" in e01["_masked"]
    assert support.get("/api/v1/search", query_string={"q": "Virtanen", **everything}).json["total"]["value"] == 0
    security = persona("security")
    assert security.get("/api/v1/search", query_string={"q": "Virtanen", **everything}).json["total"]["value"] == 1


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_values(event: dict) -> list[str]:
    """The values a person could paste: strings and whole numbers, but not times or the id."""
    from app.events.schema import load_schema
    times = {f.path for f in load_schema().fields.values() if f.type == "date"} | {("@timestamp",)}
    out, stack = [], [((), event)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack += [(path + (k,), v) for k, v in node.items() if not k.startswith("_")]
        elif isinstance(node, list):
            stack += [(path, v) for v in node]
        elif path not in times and isinstance(node, str) and any(c.isalnum() for c in node):
            out.append(node)
    return out


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    lambda s: any(c.isalnum() for c in s))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(label=TEXT, name=TEXT, words=st.lists(TEXT, min_size=1, max_size=4), pick=st.integers(0, 10**6))
def test_any_value_of_any_event_finds_it_pasted_whole(support_store, label, name, words, pick):
    """Property: write an event holding arbitrary text in a label, a personal name, a custom field
    and the message; then every string value it was stored with, pasted as a phrase, finds it."""
    import uuid
    eid = "prop-" + uuid.uuid4().hex
    raw = {"event": {"id": eid}, "@timestamp": BASE + pick, "message": " ".join(words),
           "labels": {"note": label}, "actor": {"name": name, "id": "P-" + label[:20]},
           "custom": {"reason": words[-1]}}
    import tempfile
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.mkdtemp()}))
    assert support_store.write([normalizer.normalize(raw, BASE + 3_600_000)]).stored == 1
    if hasattr(support_store, "refresh"):
        support_store.refresh()
    stored = support_store.get(eid)
    for value in string_values(stored):
        if len(value) > 256 and not re.search(r"[^\W_]", value):
            continue
        query = parse(f"{quoted(value)} AND event.id:{eid}")
        assert support_store.search(SearchRequest(query=query, size=5)).total == 1, value


def test_where_a_pasted_value_was_found(support_store):
    """Chips: each field the value was found in, with its exact count and a query that narrows
    to it; what matched elsewhere (a label, a URL path) counted apart."""
    from app.search.found_in import ELSEWHERE, where_found
    request = SearchRequest(query=parse("P-004186"))
    chips = {chip.field: chip for chip in where_found(support_store, request)}
    assert {f: c.count for f, c in chips.items()} == {"actor.id": 2, "target.id": 2, ELSEWHERE: 1}
    for chip in chips.values():   # each chip's query finds exactly what it counts
        assert support_store.search(SearchRequest(query=parse(chip.q))).total == chip.count
    assert found(support_store, chips[ELSEWHERE].q) == ["E09"]
    e_mail = {c.field: c.count for c in where_found(support_store, SearchRequest(query=parse("niamh.virtanen44@EXAMPLE.com")))}
    assert e_mail == {"actor.email": 1, "message": 1}
    assert where_found(support_store, SearchRequest(query=parse("actor.id:p-004186"))) == []   # not a pasted value


def test_the_search_page_shows_where_a_pasted_value_was_found(app, persona):
    services = app.extensions["platlogs"]
    assert services.store.write(normalised_events()).stored == len(EVENTS)
    page = persona("support").get("/", query_string={"q": "p-004186", "from": "2025-01-01T00:00:00Z",
                                                     "to": "2026-01-01T00:00:00Z"}).get_data(as_text=True)
    chips = re.findall(r'<a class="chip" href="([^"]+)">([^<]+) <span class="count">(\d+)</span>', page)
    assert [(label, int(n)) for _, label, n in chips] == [("in actor.id", 2), ("in target.id", 2), ("elsewhere", 1)]
    assert "q=actor.id:%22p-004186%22" in chips[0][0]
    assert "<code>payment.transaction_id</code>" in page.split("Any case on these fields")[1][:2000]


def test_the_page_says_how_much_it_counted_when_facets_run_out_of_time(app, persona, monkeypatch):
    from app.web import views
    services = app.extensions["platlogs"]
    assert services.store.write(normalised_events()).stored == len(EVENTS)
    window = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    page = persona("security").get("/", query_string=window).get_data(as_text=True)
    assert "counted" not in page.split('class="summary"')[1].split("</p>")[0]
    monkeypatch.setattr(views, "PAGE_BUDGET_MS", 0)
    page = persona("security", "sec-2").get("/", query_string=window).get_data(as_text=True)
    summary = page.split('class="summary"')[1].split("</p>")[0]
    assert f"<strong>{len(EVENTS)}</strong> events" in summary
    assert f"counted 0 of {len(EVENTS)} in the 0.0 s budget" in summary
