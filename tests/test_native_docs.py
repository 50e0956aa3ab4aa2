"""The tantivy document in Rust (native/, platlogs_native) against the Python reference
(`Converter.python_document`): the same bytes, or the native side declines (None) — never a
different line. On demo traffic it must (almost) never decline.

Without the module the tests skip with a warning; in CI (PLATLOGS_CI=1) they fail, as a missing
service does (scripts/test builds and installs it)."""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from app.config import Settings
from app.events.convert import EventError
from app.query import searchable
from app.services import build_normalizer
from app.storage import native_docs
from app.storage.tantivy_schema import Converter

NOW = 1_795_000_000_000        # 2026-11-18, after the demo window below
STORED = b"\x01stored form \xff\x00"


@pytest.fixture(scope="module")
def builder():
    if native_docs.platlogs_native is None:
        if os.environ.get("PLATLOGS_CI") == "1":
            pytest.fail("platlogs_native is not installed, and CI requires it (scripts/test builds native/)",
                        pytrace=False)
        import warnings
        warnings.warn("platlogs_native is not installed (pip install ./native): the native tests skip")
        pytest.skip("platlogs_native not installed")
    return native_docs.platlogs_native.DocumentBuilder(*_builder_args())


def _builder_args():
    """What native_docs.builder() passes, built here again only to be independent of
    PLATLOGS_NATIVE (the module's builder() is None when it is 0)."""
    from app.events.schema import load_schema
    kinds = {searchable._PLAIN: ("keys", "all"), searchable._PERSONAL: ("pkeys", "pall"),
             searchable._IDENTIFIER: (None, None), searchable._PERSONAL_IDENTIFIER: (None, None)}
    identifiers = [list(f.path) for f in load_schema().fields.values() if f.identifier]
    return (searchable._tree(), kinds, searchable._PLAIN, searchable._SKIP, identifiers, searchable.KEY_CHARS,
            searchable.MAX_VALUES, native_docs.ranges(searchable._WORD), native_docs.ranges(searchable._SPACE_OR_SLASH))


@pytest.fixture(scope="module")
def reference():
    converter = Converter(lambda event: STORED)
    return converter.python_document


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("data"))}))


def stored_event(normalizer, raw) -> dict | None:
    """What the store's write() hands to the converter: a normalised event without its private keys."""
    try:
        line = orjson.dumps(raw)
        event = normalizer.normalize(orjson.loads(line), NOW, line)
    except (EventError, orjson.JSONEncodeError, TypeError):
        return None
    for key in ("_client_id", "_ts", "_columns"):
        event.pop(key, None)
    return event


def compare(builder, reference, event: dict, seq: int = 123456789 << 22, ts: int = 1_763_000_000_000) -> bool:
    """Equal lines, or a decline (False). A different line fails."""
    expected = reference(event, seq, ts)
    got = builder.document(orjson.dumps(event), STORED, seq, ts)
    if got is None:
        return False
    assert got == expected, f"native line differs for {event!r}"
    return True


def test_demo_events_are_identical_and_never_declined(builder, reference, normalizer):
    from app.demo.generator import generate
    events = generate(20_000, days=7, seed=11, end=datetime(2026, 11, 17, tzinfo=timezone.utc))
    declined = compared = 0
    for raw in events:
        event = stored_event(normalizer, raw)
        if event is None:
            continue
        compared += 1
        declined += not compare(builder, reference, event)
    assert compared > 19_000
    assert declined == 0, f"{declined} of {compared} demo events declined"


def test_hostile_corpus_events(builder, reference, normalizer):
    """Every event of the hostile corpus (tests/hostile/cases) that normalises: equal or declined."""
    from tests.hostile.corpus import load_cases
    compared = 0
    for case in load_cases():
        for item in case.items:
            try:
                raw = orjson.loads(item) if isinstance(item, bytes) else item
            except orjson.JSONDecodeError:
                continue    # not JSON: refused before any document is written
            if not isinstance(raw, dict) or (event := stored_event(normalizer, raw)) is None:
                continue
            compare(builder, reference, event)
            compared += 1
    assert compared > 50


def test_every_code_point_is_classed_as_python_does(builder):
    """text_like's two classes (`[^\\W_]` and `[\\s/\\\\]`) as Python's own re decides them,
    checked on every code point (surrogates cannot be in a str orjson writes)."""
    text_like = searchable.text_like
    wrong = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        for value in (f"x {c}", f"x{c}y", f"{c}{c}"):
            if builder.text_like(value) != text_like(value):
                wrong.append((hex(code), value))
    assert not wrong[:20]


@pytest.mark.parametrize("value", ["", "a", "a b", "a_b c", "a/b", "a\\b", "é ü", "a\u00a0b", "a\u2028b", "a\x1cb",
                                   "१ ٢", "a\u0301 b", "Ⅻ x", "_ _", "a - b", "x" * 300 + " y"])
def test_text_like_examples(builder, value):
    assert builder.text_like(value) == searchable.text_like(value)


@pytest.mark.parametrize("event", [
    {"message": "m", "event": {"id": 17}},                                  # an integer id: str() of it
    {"event": {"id": "x", "component": "api"}, "error": {"message": 5, "stack_trace": "s t"}},
    {"error": {"type": "E"}},                                               # no message, no stack: kept whole
    {"error": {"message": "only"}, "event": {}},
    {"error": "not an object", "event": "nor this"},
    {"labels": {"_private": "x", "a b": "c d", "n": 2**63 + 5, "m": -3, "f": 1.5, "t": True, "z": None}},
    {"changes": [{"field": "limit", "old": 10, "new": "twenty five"}, {"field": "x", "old": None}]},
    {"x": {"deep": [[[["a b", {"c": "d e"}]]]]}, "_hidden": "y", "": "empty key"},
    {"actor": {"email": "Ana@Example.com", "id": "P-1", "name": "Ana Ö"}, "source": {"ip": "10.0.0.1"}},
    {"actor": "a string where a namespace is", "user_agent": {"original": "a\u2028b c"}},
    {"message": "tab\there \"quoted\" \\ back / slash \u0001 \u001f é 🎰 \u2028", "x": "\U0001F3B0 y"},
    {"x": "k" * 300, "y": "k " * 200, "z": "é" * 256, "w": "é" * 257},
    {"tags": ["a b", "c", "", "d e f"], "q": [1, [2, [3]], {"r": 4}]},
    {"a\"b": "c", "a\\b": {"d\ne": "f g"}, "é": "h i"},
    {"event": {"id": "dup"}, "message": None, "@timestamp": "2026-11-01T00:00:00.000Z"},
])
def test_shapes(builder, reference, event):
    assert compare(builder, reference, event)


def test_budget_of_values(builder, reference):
    """MAX_VALUES: past the budget no value is taken, in Python's order (last first in a list)."""
    event = {"labels": {f"k{i}": f"v {i}" for i in range(1500)}, "x": [f"w {i}" for i in range(1500)],
             "y": "after"}
    assert compare(builder, reference, event)


def test_declines_rather_than_guessing(builder, reference):
    for event in ({"event": {"id": 1.5}}, {"event": {"id": None}}, {"event": {"id": True}}):
        assert builder.document(orjson.dumps(event), STORED, 1, 2) is None
    assert builder.document(b'{"a": 1}', STORED, 1, 2) is None          # not orjson's compact form
    assert builder.document(b'{"a":"\xff"}', STORED, 1, 2) is None       # not UTF-8
    assert builder.document(b"[1]", STORED, 1, 2) is None                # not an object


def test_numbers_and_doc_bytes(builder, reference):
    for seq, ts in ((0, 0), (2**64 - 1, -(2**63)), (1 << 40, 2**63 - 1)):
        for stored in (b"", b"a", b"ab", b"abc", bytes(range(256))):
            event = {"message": "x", "n": 1}
            assert builder.document(orjson.dumps(event), stored, seq, ts) == \
                Converter(lambda e, stored=stored: stored).python_document(event, seq, ts)


def test_converter_uses_native_unless_switched_off(builder, monkeypatch, tmp_path):
    calls = []

    class Spy:
        def document(self, *args):
            calls.append(args)
            return builder.document(*args)

    converter = Converter(lambda event: STORED, lambda raw: STORED)
    converter.native = Spy()
    event = {"message": "hello there", "event": {"id": "e1"}}
    assert converter.document(event, 5, 6) == converter.python_document(event, 5, 6)
    assert len(calls) == 1
    native_docs.builder.cache_clear()
    monkeypatch.setenv("PLATLOGS_NATIVE", "0")
    assert Converter(lambda event: STORED).native is None
    monkeypatch.setenv("PLATLOGS_NATIVE", "1")
    native_docs.builder.cache_clear()
    assert Converter(lambda event: STORED).native is not None


def test_converter_falls_back_when_native_declines(builder):
    converter = Converter(lambda event: STORED, lambda raw: STORED)
    event = {"event": {"id": 2.5}, "message": "m"}
    assert converter.document(event, 1, 2) == converter.python_document(event, 1, 2)
    assert '"id":"2.5"' in converter.document(event, 1, 2)


# -- any event the normaliser lets through ------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["a b", "x/y", "GET /api/v1", "é ü", "a\u00a0b", "q_r s", "Ана Öz", "k" * 257, "1 2", "\t", "a\nb", '"q"'])
_KEY = st.sampled_from(["message", "event", "error", "actor", "labels", "changes", "tags", "x", "_y", "id", "name",
                        "email", "ip", "stack_trace", "type", "component", "original", "a.b", "é", "source", "player",
                        "session", "payment", "provider", "user_agent", "url", "path", "http"]) | st.text(max_size=6)
_SCALAR = _TEXT | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.booleans() | st.none()
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=5),
                      max_leaves=30)


@hsettings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEY, _VALUE, max_size=8),
       st.fixed_dictionaries({}, optional={"event": st.dictionaries(st.sampled_from(["id", "type", "component", "x"]),
                                                                    _SCALAR, max_size=3),
                                           "error": st.dictionaries(st.sampled_from(["message", "stack_trace", "type"]),
                                                                    _TEXT | _SCALAR, max_size=3),
                                           "changes": st.lists(st.fixed_dictionaries({"field": _TEXT},
                                                                                     optional={"old": _SCALAR,
                                                                                               "new": _VALUE}),
                                                               max_size=3),
                                           "labels": st.dictionaries(_TEXT, _SCALAR, max_size=4)}))
def test_any_normalised_event(builder, reference, normalizer, fields, known):
    event = stored_event(normalizer, {**fields, **known, "@timestamp": "2026-11-17T10:00:00Z"})
    if event is not None:
        compare(builder, reference, event)


@hsettings(max_examples=300, deadline=None)
@given(st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEY, inner, max_size=5),
                    max_leaves=40).filter(lambda v: isinstance(v, dict)))
def test_any_json_object(builder, reference, event):
    """Not only what the normaliser lets through: any JSON object the Python side can write."""
    try:
        orjson.dumps(event)
    except orjson.JSONEncodeError:
        return
    compare(builder, reference, event)
