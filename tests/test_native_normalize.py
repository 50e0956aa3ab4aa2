"""The normaliser's fast path in Rust (native/src/fast.rs, scan.rs; app/events/native_fast.py)
against the Python reference: for every line, the same stored event or the same refusal (reason
and field). Two normalisers of the same settings, one with the native check and one without,
see the same lines: demo traffic, the hostile corpus (tests/hostile/cases), the PAN cases
(tests/test_pan_cases.py), the redaction properties' cards and secrets, and random hostile
events (cards in every JSON type and spelling, secrets, control characters, deep nesting, huge
values, unicode, duplicate keys, whitespace, escapes). On demo traffic the native check must
take (almost) every event; everywhere it may decline, never differ.

Without the module the tests skip with a warning; in CI (PLATLOGS_CI=1) they fail."""
from __future__ import annotations

import json
import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from app.config import Settings
from app.events import native_fast
from app.events.convert import EventError
from app.ingest.items import refuse_duplicates
from app.services import build_normalizer
from test_redaction_properties import events_with_something

NOW = 1_795_300_000_000        # 2026-11-21 (the redaction properties send 2026-11-20)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    if native_fast.platlogs_native is None or not hasattr(native_fast.platlogs_native, "FastPath"):
        if os.environ.get("PLATLOGS_CI") == "1":
            pytest.fail("platlogs_native (with FastPath) is not installed, and CI requires it", pytrace=False)
        import warnings
        warnings.warn("platlogs_native is not installed (native/install): the native normaliser tests skip")
        pytest.skip("platlogs_native not installed")
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    native, python = build_normalizer(settings), build_normalizer(settings)
    if native._native is None:   # PLATLOGS_NATIVE=0: built here all the same (the two must agree)
        os.environ["PLATLOGS_NATIVE"], before = "1", os.environ.get("PLATLOGS_NATIVE")
        try:
            native._native = native_fast.build(native)
        finally:
            os.environ["PLATLOGS_NATIVE"] = before
    python._native = None
    assert native._native is not None
    return native, python


def outcome(normalizer, line: bytes):
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ("unreadable",)
    try:
        event = normalizer.normalize(raw, NOW, line, refuse_duplicates)
    except EventError as exc:
        return ("rejected", exc.reason, exc.field)
    if "_client_id" not in event:   # a generated id differs run by run
        event["event"].pop("id")
    return ("stored", orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS))


def same(pair, line: bytes) -> bool:
    """Asserts both paths agree on `line`; whether the native check took it."""
    native, python = pair
    assert outcome(native, line) == outcome(python, line), line
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return native._native(raw, line, native._good_keys, native._judge_key) is not None


def lines_of(event) -> list[bytes]:
    """The event as orjson writes it, with escaped slashes (PHP), and spaced (json.dumps)."""
    line = orjson.dumps(event)
    out = [line, line.replace(b"/", b"\\/")]
    try:
        out.append(json.dumps(event).encode())
    except (TypeError, ValueError):
        pass
    return out


def demo_events(n: int) -> list[dict]:
    from datetime import datetime, timezone
    from app.demo.generator import generate
    return list(generate(n, days=7, seed=11, end=datetime(2026, 11, 17, tzinfo=timezone.utc)))


def test_the_normaliser_uses_it_unless_told_not_to(pair, tmp_path, monkeypatch):
    """The wiring: a normaliser built as the app builds it has the native check (a change to
    the constants fast.rs has written in switches it off, and this fails), and not with
    PLATLOGS_NATIVE=0."""
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path)})
    monkeypatch.setenv("PLATLOGS_NATIVE", "1")
    assert build_normalizer(settings)._native is not None
    monkeypatch.setenv("PLATLOGS_NATIVE", "0")
    assert build_normalizer(settings)._native is None


def test_demo_traffic_takes_the_native_path_and_stores_the_same(pair):
    taken = 0
    events = demo_events(3000)
    for event in events:
        taken += same(pair, orjson.dumps(event))
    assert taken >= 0.95 * len(events), taken   # `changes` (about 1 %) is left to Python


def test_the_native_check_never_changes_the_object(pair):
    native, _ = pair
    for event in demo_events(300):
        line = orjson.dumps(event)
        raw = orjson.loads(line)
        native._native(raw, line, native._good_keys, native._judge_key)
        assert orjson.dumps(raw) == line


def test_the_hostile_corpus(pair):
    from hostile.corpus import load_cases
    count = 0
    for case in load_cases():
        for item in case.items:
            for line in ([item] if isinstance(item, bytes) else lines_of(item)):
                same(pair, line)
                count += 1
    assert count > 100


def test_the_pan_cases(pair):
    from test_pan_cases import CARDS, IDS, NOT_CARDS
    texts = list(NOT_CARDS) + [line for line, _ in CARDS] + IDS
    places = [lambda v: {"message": v}, lambda v: {"actor": {"id": v}}, lambda v: {"labels": {"k": v}},
              lambda v: {"tags": [v]}, lambda v: {"note": {"deep": [v]}}, lambda v: {"error": {"stack_trace": v}}]
    for text in texts:
        for place in places:
            for line in lines_of({"@timestamp": "2026-11-17T10:00:00.000Z", **place(text)}):
                same(pair, line)
    for digits in IDS + [pan for _, pan in CARDS if pan and pan.isdigit()]:
        for value in (int(digits), -int(digits), float(digits), float(digits) / 10, digits + ".0"):
            if isinstance(value, int) and not -2**63 <= value < 2**63:
                continue
            for event in ({"x": value}, {"http": {"duration": value}}, {"event": {"duration": value}},
                          {"actor": {"id": value}}, {"list": [value]}, {"labels": {"n": value}}):
                same(pair, orjson.dumps(event))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events_with_something)
def test_the_redaction_properties_cards_and_secrets(pair, case):
    event, _ = case
    for line in lines_of(event):
        same(pair, line)


# -- random hostile events ---------------------------------------------------------------------------

_CARD = "4111111111111111"
_PIECES = ["4111", "1111", "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "４１１１", "٤١١١",
           "411111111111111l", "blk_-6952295868487656571", "1234567890123", "password", "Pass", "api-key",
           "token", "secret", "pin", "cvv2", "Bearer ", "basic ", "eyJhbGci", "eyJ", "://", "</", "@", "=", ":", "=>",
           "'", '"', "\\", "\n", "\t", "\r", "\x00", "\x07", "\x1b", "\x7f", "\u0085", "\u200b", "\u202e", "é", "ß",
           "\U0001F600", "%20", "\u00a0", " ", "-", ".", ",", "/", "x", "GET", "get", "WARN", "info", "10.0.0.1",
           "::1", "2026-11-17T10:00:00.000Z", '":', '" :', "\ufeff"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join) | st.text(max_size=20) \
    | st.sampled_from(["x" * 8193, "y" * 257, "z" * 8192])
_KEY = st.sampled_from(["message", "log", "level", "event", "type", "component", "id", "action", "outcome", "http",
                        "request", "method", "response", "status_code", "duration", "actor", "ip", "roles", "labels",
                        "tags", "changes", "field", "old", "new", "@timestamp", "timestamp", "msg", "host", "service",
                        "name", "source", "payment", "amount", "error", "stack_trace", "password", "userPassword",
                        "api_key", "X-Api-Key", "a.b", "", "k\x01", "ｐａｓｓｗｏｒｄ", "pass word", _CARD, "k" * 257,
                        "kubernetes", "note", "deep"]) | st.text(max_size=8)
_NUMBER = st.sampled_from([0, 1, -1, 200, 4111111111111111, -4111111111111111, 2**63 - 1, -2**63, 10**12, 999999999999,
                           4.111111111111111e15, 4111111111111111.0, 1e12, -1e12, 999999999999.9, 1e300, 0.5, 4.0,
                           5.555555555555554e18, 30]) \
    | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
_SCALAR = st.none() | st.booleans() | _NUMBER | _TEXT
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=4),
                      max_leaves=20)
_PATHS = ["message", "log.level", "event.type", "event.component", "event.action", "event.outcome", "event.id",
          "event.duration", "http.request.method", "http.response.status_code", "http.duration", "actor.id",
          "actor.ip", "actor.roles", "actor.type", "source.ip", "host.ip", "labels", "tags", "changes", "@timestamp",
          "payment.amount", "error.stack_trace", "service.name", "note", "deep.er.value", "level", "password",
          "user.password", "a.b", "url.full"]


def _put(event: dict, path: str, value) -> None:
    node = event
    *parents, last = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


@st.composite
def hostile_lines(draw):
    """A demo event with a few hostile values put in, written one of several ways."""
    event = draw(st.sampled_from(_DEMO))
    event = json.loads(json.dumps(event))
    for _ in range(draw(st.integers(0, 3))):
        _put(event, draw(st.sampled_from(_PATHS) | _KEY), draw(_VALUE))
    if draw(st.booleans()):   # deep nesting
        value = draw(_SCALAR)
        for _ in range(draw(st.integers(1, 10))):
            value = draw(st.sampled_from([lambda v: [v], lambda v: {"d": v}]))(value)
        _put(event, draw(st.sampled_from(["note", "labels", "http", "deep.er"])), value)
    try:
        line = orjson.dumps(event)
    except orjson.JSONEncodeError:
        return b"{}"
    way = draw(st.sampled_from(["orjson", "slash", "spaced", "duplicate", "duplicate-nested", "escaped-unicode"]))
    if way == "slash":
        line = line.replace(b"/", b"\\/")
    elif way == "spaced":
        line = json.dumps(event, ensure_ascii=False).encode()
    elif way == "escaped-unicode":
        line = json.dumps(event).encode()
    elif way == "duplicate":
        key = draw(st.sampled_from([b"message", b"event", b"note", b"@timestamp"]))
        line = b'{"' + key + b'":' + orjson.dumps(draw(_SCALAR)) + b"," + line[1:]
    elif way == "duplicate-nested" and b'"event":{' in line:
        line = line.replace(b'"event":{', b'"event":{"id":"dup-1",', 1)
    return line


_DEMO = demo_events(200)


@hsettings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_lines())
def test_random_hostile_events_store_the_same(pair, line):
    same(pair, line)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEY, _VALUE, max_size=6))
def test_random_objects_store_the_same(pair, event):
    for line in lines_of(event):
        same(pair, line)


def _nested(levels: int, wrap) -> object:
    value: object = "x"
    for _ in range(levels):
        value = wrap(value)
    return value


def test_limits_at_their_edges(pair):
    native, _ = pair
    taken = set()
    for levels in range(native.max_depth - 3, native.max_depth + 2):
        for wrap in (lambda v: {"d": v}, lambda v: [v], lambda v: [{"d": v}]):
            for event in ({"note": _nested(levels, wrap)}, {"http": {"request": _nested(levels - 1, wrap)}},
                          {"labels": _nested(levels, wrap)}):
                taken.add(same(pair, orjson.dumps(event)))
    for size in range(native.max_fields - 3, native.max_fields + 2):
        for event in ({f"k{i}": i for i in range(size)}, {"list": list(range(size - 1))},
                      {"a": {f"k{i}": i for i in range(size - 2)}}, {"message": "m", "note": [{"k": 1}] * (size // 2)}):
            taken.add(same(pair, orjson.dumps(event)))
    assert taken == {True, False}


def test_limits_and_keys(pair):
    native, _ = pair
    deep: object = "x"
    for _ in range(native.max_depth + 1):
        deep = {"d": deep}
    wide = {f"k{i}": i for i in range(native.max_fields + 1)}
    for event in ({"note": deep}, wide, {"list": list(range(native.max_fields + 1))}, {"x": [[1]]},
                  {"password": "hunter2"}, {"user": {"password": True}}, {"a.b": 1}, {"": 1}, {"k\x7f": 1},
                  {"labels": {"a.b": "1"}}, {"labels": {"k": 1}}, {"tags": ["a"] * 33}, {"tags": ["a" * 257]},
                  {"http": {"request": {"method": "get"}}}, {"http": {"request": {"method": "GET"}}},
                  {"actor": {"ip": "010.0.0.1"}}, {"actor": {"ip": "10.0.0.1"}}, {"actor": {"ip": "١٠.0.0.1"}},
                  {"log": {"level": "WARN"}}, {"log": {"level": "warning"}}, {"log": "text"}, {"actor": "bob"},
                  {"http": {"response": {"status_code": 200.0}}}, {"http": {"duration": 4}},
                  {"event": {"type": "login"}}, {"event": {"type": "authentication"}}, {"event": {"id": "bad id"}},
                  {"@timestamp": "2099-01-01T00:00:00.000Z"}, {"@timestamp": "yesterday"}):
        same(pair, orjson.dumps(event))


_BOUNDARY = st.lists(st.sampled_from(
    ["password", "Password", "user_password", "api-key", "apiKey", "token", "secret", "pin", "passwd", "x", "ok", "note",
     ":", "=", "=>", " ", "  ", "\t", "\n", '"', "'", "4111", "1111", "4111111111111111", "12", "١١١١", "-", ".", "_",
     "Bearer", "bearer ", "://", "</", "eyJ", "é", "\u00a0"]), max_size=10).map("".join)


@hsettings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(_DEMO))), st.sampled_from(["message", "note", "labels.note", "actor.id", "error.message",
                                                            "tags"]), _BOUNDARY, st.booleans())
def test_texts_at_the_redaction_boundary(pair, which, path, text, slash):
    """Strings only, in a demo event: what decides is whether redaction could touch them."""
    event = json.loads(json.dumps(_DEMO[which]))
    _put(event, path, [text] if path == "tags" else text)
    line = orjson.dumps(event)
    same(pair, line.replace(b"/", b"\\/") if slash else line)
