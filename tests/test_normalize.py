"""The event model: shape, limits, types, timestamps, ids — each bad input has a clear reason."""
from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from app.config import Settings
from app.events.normalize import EventError
from app.services import build_normalizer

NOW = 1_795_000_000_000  # 2026-11-18T11:06:40Z


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("d"))}))


def reason(normalizer, raw) -> EventError:
    with pytest.raises(EventError) as info:
        normalizer.normalize(raw, NOW)
    return info.value


def test_dotted_and_nested_keys_are_equivalent(normalizer):
    a = normalizer.normalize({"actor.id": "p-1", "actor.type": "player", "event.id": "x1"}, NOW)
    b = normalizer.normalize({"actor": {"id": "p-1", "type": "player"}, "event": {"id": "x1"}}, NOW)
    for e in (a, b):
        e["event"].pop("ingested")
    assert a == b
    assert a["actor"] == {"id": "p-1", "type": "player"}


def test_dotted_key_conflicting_with_scalar_is_kept_apart(normalizer):
    # the dotted key is kept as actor_id (its path holds a value); a string actor is its id
    event = normalizer.normalize({"actor": "p-1", "actor.id": "p-2"}, NOW)
    assert event["actor"] == {"id": "p-1"} and event["actor_id"] == "p-2" and "dotted_key_renamed" in event["tags"]


def test_same_field_nested_and_dotted_is_rejected(normalizer):
    err = reason(normalizer, {"actor": {"id": "a"}, "actor.id": "b"})
    assert "twice" in err.reason and err.field == "actor.id"


@pytest.mark.parametrize("given,stored", [
    ("2026-11-18T10:00:00.123Z", "2026-11-18T10:00:00.123Z"),
    ("2026-11-18T10:00:00Z", "2026-11-18T10:00:00.000Z"),
    ("2026-11-18T12:00:00.5+02:00", "2026-11-18T10:00:00.500Z"),
    ("2026-11-18T10:00:00.123456", "2026-11-18T10:00:00.123Z"),  # no offset: UTC
    (1795000000123, "2026-11-18T11:06:40.123Z"),                  # epoch milliseconds
])
def test_timestamps_are_normalised_to_utc_milliseconds(normalizer, given, stored):
    event = normalizer.normalize({"@timestamp": given}, NOW)
    assert event["@timestamp"] == stored


def test_missing_timestamp_is_assigned_and_tagged(normalizer):
    event = normalizer.normalize({"message": "no time"}, NOW)
    assert event["@timestamp"] == event["event"]["ingested"] == "2026-11-18T11:06:40.000Z"
    assert "timestamp_assigned" in event["tags"]


@pytest.mark.parametrize("value,expected", [
    ("yesterday", "not a time: 'yesterday'"),
    (12345, "time out of range"),
    ("2027-06-01T00:00:00Z", "in the future"),
    (True, "expected a time (ISO 8601 or an epoch number)"),
])
def test_bad_timestamps_are_rejected_with_reason(normalizer, value, expected):
    err = reason(normalizer, {"@timestamp": value})
    assert expected in err.reason and err.field == "@timestamp"


def test_server_assigns_sortable_unique_ids(normalizer):
    ids = [normalizer.normalize({}, NOW + i)["event"]["id"] for i in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)


def test_client_id_is_kept_and_flagged_for_dedupe(normalizer):
    event = normalizer.normalize({"event": {"id": "order-42:deposit"}}, NOW)
    assert event["event"]["id"] == "order-42:deposit" and event["_client_id"] is True


@pytest.mark.parametrize("bad_id", ["", " x", "a b", "x" * 200, "<script>"])
def test_bad_client_ids_are_rejected(normalizer, bad_id):
    assert reason(normalizer, {"event": {"id": bad_id}}).field == "event.id"


def test_ingested_is_set_by_the_server(normalizer):
    event = normalizer.normalize({"event": {"ingested": "1999-01-01T00:00:00Z"}}, NOW)
    assert event["event"]["ingested"] == "2026-11-18T11:06:40.000Z"


@pytest.mark.parametrize("raw,field,expected", [
    ({"http": {"response": {"status_code": "abc"}}}, "http.response.status_code", "expected an integer"),
    ({"http": {"response": {"status_code": 2**70}}}, "http.response.status_code", "64-bit"),
    ({"payment": {"amount": "ten"}}, "payment.amount", "expected a number"),
    ({"payment": {"amount": [1]}}, "payment.amount", "expected a number"),
    ({"message": {"text": "x"}}, "message", "expected a string"),
    ({"actor": {"ip": "999.1.1.1"}}, "actor.ip", "not an IP address"),
    ({"actor": {"type": "robot"}}, "actor.type", "is not one of"),
    ({"event": {"component": "billing"}}, "event.component", "is not one of system, user_activity"),
    ({"event": {"type": 5}}, "event.type", "unknown event.type"),  # a word is ECS's (event.ecs_type)
    ({"event": ["login"]}, "event", "expected an object"),   # a string: labels.event (tests/test_shapes.py)
    ({"http": ["GET /"]}, "http", "expected an object"),
    ({"tags": [{"a": 1}]}, "tags", "each item must be a string"),
    ({"labels": {"a": {"b": 1}}}, "labels", "values must be strings"),
    ({"changes": [{"old": 1}]}, "changes", "string \"field\""),
])
def test_wrong_types_are_rejected_with_field_and_reason(normalizer, raw, field, expected):
    err = reason(normalizer, raw)
    assert err.field == field and expected in err.reason


def test_known_fields_are_coerced_where_unambiguous(normalizer):
    event = normalizer.normalize({
        "log": {"level": "WARN"}, "http": {"request": {"method": "post"}, "response": {"status_code": "502"}},
        "payment": {"amount": "12.50"}, "actor": {"id": 12345, "ip": "2001:db8::1"}, "tags": "one",
        "labels": {"retry": 3, "ok": True}, "changes": {"field": "limit", "old": 10, "new": 20},
    }, NOW)
    assert event["log"]["level"] == "warning"
    assert event["http"] == {"request": {"method": "POST"}, "response": {"status_code": 502}}
    assert event["payment"]["amount"] == 12.5
    assert event["actor"] == {"id": "12345", "ip": "2001:db8::1"}
    assert event["tags"] == ["one", "timestamp_assigned"]
    assert event["labels"] == {"retry": "3", "ok": "true"}
    assert event["changes"] == [{"field": "limit", "old": 10, "new": 20}]


def test_unknown_fields_are_kept(normalizer):
    event = normalizer.normalize({"vip_tier": "gold", "bonus": {"code": "WELCOME"}}, NOW)
    assert event["vip_tier"] == "gold" and event["bonus"] == {"code": "WELCOME"}


def test_deep_nesting_is_rejected(normalizer):
    raw: dict = {"a": "leaf"}
    for _ in range(20):
        raw = {"n": raw}
    assert "nested deeper than 8 levels" in reason(normalizer, raw).reason


def test_huge_attribute_maps_are_rejected(normalizer):
    assert "more than 500 fields" in reason(normalizer, {"attrs": {f"k{i}": i for i in range(600)}}).reason
    assert "more than 500 fields" in reason(normalizer, {"attrs": list(range(600))}).reason


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31mred", "bell\x07", "del\x7f"])
def test_control_characters_are_rejected(normalizer, text):
    err = reason(normalizer, {"message": text})
    assert "control character" in err.reason and err.field == "message"


def test_tab_newline_and_unicode_are_fine(normalizer):
    text = "Traceback:\n\tline 1\r\nZoë 李雷 🎰"
    assert normalizer.normalize({"message": text}, NOW)["message"] == text


def test_control_characters_in_field_names_are_rejected(normalizer):
    assert "invalid field name" in reason(normalizer, {"a\x00b": 1}).reason


def test_null_tags_with_missing_timestamp(normalizer):
    assert normalizer.normalize({"tags": None}, NOW)["tags"] == ["timestamp_assigned"]


def test_non_finite_numbers_are_rejected(normalizer):
    assert "NaN" in reason(normalizer, {"x": float("nan")}).reason


@pytest.mark.parametrize("value", [[], "text", 5, None])
def test_non_objects_are_rejected(normalizer, value):
    assert "expected a JSON object" in reason(normalizer, value).reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["message", "event", "event.id", "actor", "actor.id", "log.level", "@timestamp",
                         "http", "http.response.status_code", "changes", "tags", "labels", "error", "x", "a.b"])
        | st.text(max_size=8), children, max_size=5),
    max_leaves=25)


@hsettings(max_examples=400, deadline=None)
@given(json_values)
def test_no_input_crashes_the_normaliser(normalizer, raw):
    """Anything is either stored in canonical form or rejected with a reason — never a crash."""
    try:
        event = normalizer.normalize(raw, NOW)
    except EventError as exc:
        assert exc.reason
    else:
        assert event["event"]["component"] and event["event"]["type"] and event["@timestamp"].endswith("Z")


def _outcome(normalizer, raw, line):
    import copy
    try:
        event = normalizer.normalize(copy.deepcopy(raw), NOW, line)
    except EventError as exc:
        return ("rejected", exc.reason, exc.field)
    event["event"].pop("id", None) if "_client_id" not in event else None
    return ("stored", event)


@hsettings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_and_full_pass_agree(normalizer, raw):
    """The raw-line fast path is an optimisation only: same event or same rejection."""
    import orjson
    try:
        line = orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return
    fast, full = _outcome(normalizer, orjson.loads(line), line), _outcome(normalizer, orjson.loads(line), None)
    assert fast == full


@pytest.mark.parametrize("raw", [
    {"message": "plain", "actor": {"type": "player", "id": "p-1", "ip": "203.0.113.9"}, "event": {"id": "a1"}},
    {"message": "card 4111111111111111", "event": {"id": "a2"}},
    {"user": {"password": "x"}, "event": {"id": "a3"}},
    {"actor.id": "p-1", "event": {"id": "a4"}},
    {"log": {"level": "WARN"}, "http": {"response": {"status_code": "500"}}, "event": {"id": "a5"}},
    {"labels": {"a": 1}, "changes": [{"field": "f", "old": 1, "new": 2}], "tags": ["x"], "event": {"id": "a6"}},
    {"message": "Authorization: Bearer abcdefghijk123", "event": {"id": "a7"}},
])
def test_fast_path_examples_agree(normalizer, raw):
    import orjson
    line = orjson.dumps(raw)
    assert _outcome(normalizer, orjson.loads(line), line) == _outcome(normalizer, orjson.loads(line), None)
