"""Personal data written inside other values (issue 13.4): e-mail addresses and IPs in a message,
a label or a before/after value are shown masked to roles without `see_personal`, as the
personal fields are; revealing them is allowed and recorded like a personal field."""
from __future__ import annotations

import pytest

from app.search.masking import load_personal_text, mask_event, mask_text
from tests.test_support_search import EVENTS, normalised_events

EVERYTHING = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("text, shown", [
    ("player_search for niamh.virtanen44@example.com by agent", "player_search for n***@example.com by agent"),
    ("login from 192.0.2.158 failed", "login from 192.0.*.* failed"),
    ("peer 2001:db8::8a2e:370:7334 reset", "peer 2001:0db8:* reset"),
    ("deploy v1.2.3 at 12:30:45 on build 10.0.19045", "deploy v1.2.3 at 12:30:45 on build 10.0.19045"),
    ("no personal data here", "no personal data here"),
])
def test_personal_data_inside_text_is_masked_and_nothing_else(text, shown):
    assert mask_text(text) == shown


def test_labels_and_changes_are_masked_too_and_listed():
    event = {"message": "profile changed", "labels": {"contact": "a.b@example.org"},
             "changes": [{"field": "email", "old": "old@example.org", "new": "new@example.org"}],
             "event": {"id": "x@example.org"}}
    shown = mask_event(event)
    assert shown["labels"]["contact"] == "a***@example.org"
    assert [c["old"] for c in shown["changes"]] == ["o***@example.org"]
    assert shown["event"]["id"] == "x@example.org"            # ids are not text
    assert set(shown["_masked"]) == {"labels.contact", "changes.old", "changes.new"}
    assert event["labels"]["contact"] == "a.b@example.org"     # a copy: the original untouched


def test_support_reads_messages_with_the_email_masked_and_may_reveal_it(app, persona):
    services = app.extensions["platlogs"]
    assert services.store.write(normalised_events()).stored == len(EVENTS)
    support, security = persona("support"), persona("security")
    q = {"q": "event.id:E13", **EVERYTHING}
    assert security.get("/api/v1/search", query_string=q).json["hits"][0]["message"] == EVENTS["E13"]["message"]
    hit = support.get("/api/v1/search", query_string=q).json["hits"][0]
    assert hit["message"] == "player_search for n***@example.com by agent" and "message" in hit["_masked"]
    from tests.conftest import csrf_token
    page = support.get("/events/E13").get_data(as_text=True)
    assert "niamh.virtanen44" not in page
    shown = support.post("/events/E13/reveal", data={"field": "message", "reason": "caller asked what was searched",
                                                     "csrf_token": csrf_token(page)})
    assert shown.status_code == 200 and "niamh.virtanen44@example.com" in shown.get_data(as_text=True)
    refused = support.post("/events/E13/reveal", data={"field": "service.name", "reason": "just curious, really",
                                                       "csrf_token": csrf_token(page)})
    assert refused.status_code == 400


@pytest.mark.parametrize("body, message", [
    ("patterns: []", "expected `patterns:`"),
    ("patterns:\n  - {name: x, pattern: '(', mask_as: actor.email}", "patterns[0] (x): pattern:"),
    ("patterns:\n  - {name: y, pattern: 'a', mask_as: actor.id}", "patterns[0] (y): mask_as: 'actor.id'"),
    ("patterns:\n  - {name: z, pattern: 'a'}", "patterns[0] (z): needs name, pattern and mask_as"),
])
def test_a_bad_pattern_file_is_refused_naming_file_entry_and_field(tmp_path, body, message):
    path = tmp_path / "personal_text.yaml"
    path.write_text(body)
    with pytest.raises(ValueError) as caught:
        load_personal_text(path)
    assert str(path) in str(caught.value) and message in str(caught.value)
