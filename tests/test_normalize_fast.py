"""The fast path of the normaliser (app/events/normalize.py) stays an optimisation only.

- Lines with simple escapes (\\" \\n \\t \\r \\/: stack traces, quoted words) take the fast path
  too: `may_touch` then reads them decoded. Whatever a value holds — card numbers, secrets,
  patterns, around quotes, newlines and tabs — the fast path stores what the full passes store.
- The duplicate-key check is skipped on the fast path only when the keys it counted prove no
  key was repeated; a repeat is refused with the same reason, before any other.
"""
from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from app.config import Settings
from app.events.normalize import EventError
from app.ingest.items import refuse_duplicates
from app.services import build_normalizer

NOW = 1_763_000_000_000


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("n"))}))


def outcome(normalizer, line: bytes | None, raw_line: bytes, duplicates=None):
    raw = orjson.loads(raw_line)
    try:
        event = normalizer.normalize(copy.deepcopy(raw), NOW, line, duplicates)
    except EventError as exc:
        return ("rejected", exc.reason, exc.field)
    if "_client_id" not in event:
        event["event"].pop("id", None)
    return ("stored", event)


_PIECES = st.sampled_from([
    "4111", "1111", "5500", "0005", "4", "1", "４", " ", "-", ".", ",", "/", "\u00a0", "_", ":", "=", "'", '"',
    '\\', "\n", "\t", "\r", "password", "Pass", "api-key", "token", "cvv2", "pin", "Bearer ", "basic ", "eyJhbGci",
    "eyJ", "://", "@", "<", "</", "-----BEGIN RSA PRIVATE KEY-----", "a", "é", "=>", "%20", "\u0007", "\x7f",
    '":', '" :', '"password": "', "\\u0034", "\\n"])
_TEXTS = st.lists(_PIECES, max_size=24).map("".join)
_KEYS = st.sampled_from(["message", "error.stack_trace", "labels", "x", "passport", "password", 'a"b', "a\nb", "tags",
                         "actor.id", "event.id"])


def _line(event: dict, slash: bool) -> bytes:
    line = orjson.dumps(event)
    return line.replace(b"/", b"\\/") if slash else line   # some clients (PHP) escape every slash


@hsettings(max_examples=600, deadline=None)
@given(st.dictionaries(_KEYS, _TEXTS | st.lists(_TEXTS, max_size=3) | st.dictionaries(st.sampled_from(["k", "pin", "n"]), _TEXTS, max_size=2), max_size=4),
       st.booleans())
def test_lines_with_escapes_store_what_the_full_passes_store(normalizer, event, slash):
    event.setdefault("event", {})["id"] = "fixed-1"
    line = _line(event, slash)
    assert outcome(normalizer, line, line) == outcome(normalizer, None, line)


@pytest.mark.parametrize("text", [
    'at "4111 1111 1111 1111"', "card\n4111111111111111", "pan:\t4111-1111-1111-1111",
    'password": "hunter2"', 'say "password": hunter2', "Authorization:\tBasic dXNlcjpwYXNzd29yZA==",
    "token=\"abc\"", 'x ":" password: y', "https://bob:secret@host/", "<password>x</password>",
    "line1\npassword: hunter2\nline3", "\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig\"",
])
@pytest.mark.parametrize("slash", [False, True])
def test_escaped_secrets_are_redacted_on_the_fast_path_too(normalizer, text, slash):
    line = _line({"message": text, "event": {"id": "e1"}}, slash)
    fast, full = outcome(normalizer, line, line), outcome(normalizer, None, line)
    assert fast == full
    assert fast[1]["event"].get("redacted"), fast


def test_a_stack_trace_takes_the_fast_path(normalizer):
    """What the demo's errors look like: quotes, newlines and tabs, and nothing to redact."""
    raw = {"message": 'market "Over 2.5 goals" suspended', "error": {"stack_trace": 'Error: "x"\n\tat a.b(C.java:318)\n'}}
    line = orjson.dumps(raw)
    assert b"\\" in line
    parsed = orjson.loads(line)
    event = normalizer.normalize(parsed, NOW, line)
    assert event is parsed   # not copied: the fast path
    assert event["error"]["stack_trace"] == raw["error"]["stack_trace"]


def test_other_escapes_take_the_full_passes(normalizer):
    for line in (b'{"message":"\\u0034111111111111111"}', b'{"message":"a\\\\nb 4111111111111111"}',
                 b'{"message":"bell \\u0007"}'):
        fast, full = outcome(normalizer, line, line), outcome(normalizer, None, line)
        assert fast == full
    assert outcome(normalizer, b'{"message":"\\u0034111111111111111"}', b'{"message":"\\u0034111111111111111"}')[1][
        "message"] == "411111******1111"


def test_a_refusal_is_the_full_passes_own(normalizer):
    """An earlier field's problem is reported, not a later known field's conversion (found by
    tests/test_normalize.py's property test: `changes` came first in the object)."""
    line = orjson.dumps({"changes": {}, "message": {"": None}})
    assert outcome(normalizer, line, line) == outcome(normalizer, None, line)
    assert outcome(normalizer, line, line)[1].startswith("invalid field name")


@pytest.mark.parametrize("line", [
    b'{"event":{"id":"a","id":"b"}}', b'{"message":"x","message":"y"}', b'{"a":{"b":1},"a":{"c":2}}',
    b'{"message" :"x","message":"y"}', b'{"message":"say \\":\\"","message":"y"}', b'[{"a":1,"a":2}]',
    b'{"tags":[{"k":1,"k":2}]}', b'{"message":"4111111111111111","message":"y"}',
    b'{"@timestamp":"bad","x":1,"x":2}', b'{"labels":{"a":"1","a":"2"}}',
])
def test_a_repeated_key_is_refused_first_and_as_before(normalizer, line):
    expected = None
    try:
        refuse_duplicates(line, orjson.loads(line))
    except EventError as exc:
        expected = ("rejected", exc.reason, exc.field)
    assert expected is not None and "given twice" in expected[1]
    assert outcome(normalizer, line, line, refuse_duplicates) == expected


@pytest.mark.parametrize("line", [
    b'{"message":"x","event":{"id":"u1"}}', b'{"message":"a \\":\\" b","event":{"id":"u2"}}',
    b'{"message" : "x","event":{"id":"u3"}}', b'{"a":[{"b":1},{"b":2}],"event":{"id":"u4"}}',
])
def test_no_repeated_key_is_no_refusal(normalizer, line):
    assert outcome(normalizer, line, line, refuse_duplicates)[0] == "stored"


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "message", "event", "id", "x y", 'q"']),
                          st.sampled_from(['1', '"v"', '{"id":"z"}', '{"id":"z","id":"w"}', '[{"a":1}]', '"a\\":b"',
                                           'null', '{}'])), max_size=5),
       st.sampled_from([":", " :", ": "]))
def test_the_duplicate_check_agrees_with_the_slow_one(normalizer, pairs, colon):
    line = ("{" + ",".join(f'{orjson.dumps(k).decode()}{colon}{v}' for k, v in pairs) + "}").encode()
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return
    try:
        refuse_duplicates(line, raw)
        expected = None
    except EventError as exc:
        expected = exc.reason
    got = outcome(normalizer, line, line, refuse_duplicates)
    if expected is None:
        assert got[0] == "stored" or "given twice" not in got[1]
    else:
        assert got[:2] == ("rejected", expected)
