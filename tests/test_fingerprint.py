"""Error fingerprints (app/events/fingerprint.py): a table of pairs of errors that must fall in
one group (they differ only in numbers, ids, hex, quoted values, line numbers, library frames)
and pairs that must not (they differ in type, wording or in-app frames); the custom rules file
(validated naming file, rule and field); the ingest hook stamping error.fingerprint."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.events import fingerprint_rules
from app.events.fingerprint import fingerprint, frames, template, top_frames
from app.events.fingerprint_rules import Fingerprinter
from app.events.schema import load_schema

PY = 'Traceback (most recent call last):\n  File "{root}/app/{mod}.py", line {line}, in {fn}\n    x()\n' \
     '  File "/usr/lib/python3.11/site-packages/httpx/_client.py", line {lib}, in send\n    y()\nE: m'
JAVA = "{typ}: m\n\tat com.example.{cls}.{fn}({cls}.java:{line})\n\tat java.base/java.lang.Thread.run(Thread.java:{lib})"
JS = "TypeError: m\n    at {fn} (/srv/web/src/{mod}.js:{line}:17)\n    at process (node:internal/process/task_queues:{lib}:5)"


def err(message, type_="TimeoutError", trace=None, **extra):
    event = {"error": {"type": type_, "message": message}, **extra}
    if trace is not None:
        event["error"]["stack_trace"] = trace
    return event


SAME = [  # (why, a, b): one group
    ("numbers", err("timeout after 5012 ms for round 83731"), err("timeout after 12 ms for round 9")),
    ("decimals and signs", err("balance -12.50 below 0.00"), err("balance -3.1 below 100.25")),
    ("uuid", err("session 550e8400-e29b-41d4-a716-446655440000 expired"),
     err("session 6ba7b810-9dad-11d1-80b4-00c04fd430c8 expired")),
    ("generated id", err("transaction tx-a58a3f9c not found"), err("transaction tx-9b1c77e2 not found")),
    ("random hex id, by chance all digits or one letter", err("declined for tx-e12345"), err("declined for tx-1234567890")),
    ("random hex id, mixed or one letter", err("declined for tx-a58a3f9c01"), err("declined for tx-12345e")),
    ("prefixed number id, any length", err("player p-10023 locked"), err("player p-7 locked")),
    ("word with a number", err("user42 has no wallet"), err("user12345 has no wallet")),
    ("hex literal", err("bad pointer 0xDEADBEEF"), err("bad pointer 0x1f")),
    ("digest", err("checksum 9f86d081884c7d659a2feaa0c55ad015 mismatch"),
     err("checksum 5d41402abc4b2a76b9719d911017c592 mismatch")),
    ("single-quoted value", err("'wagering_multiplier'", "KeyError"), err("'bonus_cap'", "KeyError")),
    ("double-quoted value", err('invalid date of birth "31.02.1990"', "ValueError"),
     err('invalid date of birth "x"', "ValueError")),
    ("backquoted value", err("unknown column `bonus_locked`"), err("unknown column `x`")),
    ("e-mail", err("no account for ana@example.com"), err("no account for bo.b+1@mail.example.org")),
    ("IPv4 and port", err("connect to 10.0.0.1:5432 refused"), err("connect to 192.168.1.20:6432 refused")),
    ("IPv6", err("connect to fe80::1 refused"), err("connect to 2001:db8::ff00:42:8329 refused")),
    ("URL", err("GET https://api.provider-a.com/v1/spin?id=1 failed"), err("GET http://b.example/x failed")),
    ("ISO date", err("no rate for 2026-12-03T07:08:16Z"), err("no rate for 2025-01-31 23:59:59.123+01:00")),
    ("whitespace", err("pool  exhausted\n(size 10)"), err("pool exhausted (size 20)")),
    ("message repeats the type", {"error": {"type": "KeyError"}, "message": "KeyError: 'a'"},
     {"error": {"type": "KeyError", "message": "'b'"}}),
    ("python line numbers and roots", err("m", trace=PY.format(root="/srv/r1", mod="ledger", line=212, fn="apply", lib=1)),
     err("m", trace=PY.format(root="/opt/releases/2.3.1", mod="ledger", line=230, fn="apply", lib=99))),
    ("java line numbers", err("m", "X", JAVA.format(typ="X", cls="Ledger", fn="apply", line=12, lib=1)),
     err("m", "X", JAVA.format(typ="X", cls="Ledger", fn="apply", line=40, lib=2))),
    ("java lambdas", err("m", "X", "X: m\n\tat com.example.Job$$Lambda$123/0x00007f.run(Unknown Source)"),
     err("m", "X", "X: m\n\tat com.example.Job$$Lambda$9/0x0000a1.run(Unknown Source)")),
    ("javascript line and column", err("m", "TypeError", JS.format(fn="render", mod="cart", line=10, lib=95)),
     err("m", "TypeError", JS.format(fn="render", mod="cart", line=88, lib=3))),
    ("library frames differ", err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="apply", lib=1)),
     err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="apply", lib=1).replace("httpx", "requests"))),
    ("sentence apostrophes", err("can't reach wallet 17"), err("can't reach wallet 18")),
    ("error component with only a message", {"event": {"component": "error"}, "message": "job 77 crashed"},
     {"event": {"component": "error"}, "message": "job 78 crashed"}),
]

DIFFERENT = [  # (why, a, b): two groups
    ("type", err("connection reset"), err("connection reset", "ConnectionError")),
    ("wording", err("timeout after 5 ms"), err("deadline after 5 ms")),
    ("negation", err("player 7 is locked"), err("player 7 is not locked")),
    ("what failed", err("cannot open wallet 12"), err("cannot open session 12")),
    ("python function", err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="apply", lib=1)),
     err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="revert", lib=1))),
    ("python module", err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="apply", lib=1)),
     err("m", trace=PY.format(root="/srv", mod="bonus", line=1, fn="apply", lib=1))),
    ("java class", err("m", "X", JAVA.format(typ="X", cls="Ledger", fn="apply", line=1, lib=1)),
     err("m", "X", JAVA.format(typ="X", cls="Bonus", fn="apply", line=1, lib=1))),
    ("javascript function", err("m", "TypeError", JS.format(fn="render", mod="cart", line=1, lib=1)),
     err("m", "TypeError", JS.format(fn="checkout", mod="cart", line=1, lib=1))),
    ("a trace against none", err("m", trace=PY.format(root="/srv", mod="ledger", line=1, fn="apply", lib=1)),
     err("m")),
    ("namespaced type", err("m", "redis.exceptions.TimeoutError"), err("m", "httpx.TimeoutError")),
    ("placeholder position", err("retry 3 of wallet"), err("retry of wallet 3")),
]


def _value(event):
    return fingerprint(event).value


@pytest.mark.parametrize("why,a,b", SAME, ids=[c[0] for c in SAME])
def test_one_group(why, a, b):
    assert _value(a) == _value(b), (why, fingerprint(a).title, fingerprint(b).title)


@pytest.mark.parametrize("why,a,b", DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_two_groups(why, a, b):
    assert _value(a) != _value(b), (why, fingerprint(a).title)


def test_the_table_is_big_enough():
    assert len(SAME) + len(DIFFERENT) >= 25


def test_title_is_the_template_and_the_value_a_digest():
    found = fingerprint(err("timeout after 5012 ms for round 83731"))
    assert found.title == "TimeoutError: timeout after <num> ms for round <num>"
    assert len(found.value) == 32 and int(found.value, 16) >= 0
    assert template("user ana@example.com from 10.1.2.3 said 'hi' #12") == "user <email> from <ip> said <str> #<num>"


def test_not_an_error():
    assert fingerprint({"message": "player 7 signed in", "event": {"component": "user_activity"}}) is None
    assert fingerprint({"error": {}}) is None


def test_frames_innermost_first_and_in_app():
    trace = PY.format(root="/srv", mod="ledger", line=3, fn="apply", lib=4)
    assert [(f.file, f.function, f.in_app) for f in frames(trace)] == [
        ("httpx/_client.py", "send", False), ("app/ledger.py", "apply", True)]
    assert [f.function for f in top_frames(trace)] == ["apply"]
    only_library = '  File "/usr/lib/python3/dist-packages/x/y.py", line 1, in f\n'
    assert [f.function for f in top_frames(only_library)] == ["f"]   # none in-app: as they are


def test_hostile_sizes_are_bounded():
    huge = "a1" * 200_000 + " " + "7" * 100_000 + " " + "'" * 50_000
    found = fingerprint(err(huge, trace="  at x (y.js:1:1)\n" * 50_000))
    assert len(found.title) <= 200


# -- custom rules -------------------------------------------------------------------------

FIELDS = set(load_schema().fields)


def _rules(tmp_path: Path, text: str):
    path = tmp_path / "fingerprints.yaml"
    path.write_text(text)
    return fingerprint_rules.load(path, FIELDS)


def test_rule_groups_by_its_own_parts(tmp_path):
    rules = _rules(tmp_path, """
rules:
  - id: timeouts-per-provider
    when: {error.type: TimeoutError, integration.provider: {exists: true}}
    fingerprint: ["{default}", "{integration.provider}"]
    title: "{type} at {integration.provider}: {message}"
""")
    a = err("timeout after 5 ms", integration={"provider": "evolution"})
    b = err("timeout after 9 ms", integration={"provider": "evolution"})
    c = err("timeout after 9 ms", integration={"provider": "pragmatic"})
    assert fingerprint(a, rules).value == fingerprint(b, rules).value != fingerprint(c, rules).value
    assert fingerprint(a, rules).title == "TimeoutError at evolution: timeout after <num> ms"
    assert fingerprint(a, rules).rule == "timeouts-per-provider"
    plain = err("timeout after 5 ms")   # the rule does not match: the computed fingerprint
    assert fingerprint(plain, rules) == fingerprint(plain)


def test_the_shipped_rules_load_and_apply():
    rules = fingerprint_rules.load(None, FIELDS)
    one = fingerprint(err("deadlock detected", "OperationalError", service={"name": "wallet"}), rules)
    other = fingerprint(err("ERROR: deadlock detected at 7", "DBError", service={"name": "wallet"}), rules)
    assert one.value == other.value and one.title == "Deadlock in wallet"


@pytest.mark.parametrize("text,message", [
    ("rules: 3", "expected `rules:`"),
    ("rules:\n  - {when: {error.type: X}, fingerprint: [a]}", "rules[0]: id:"),
    ("rules:\n  - {id: a, when: {error.type: X}, fingerprint: [a]}\n  - {id: a, when: {error.type: X}, fingerprint: [a]}",
     "rules[1] (a): id: 'a' is used twice"),
    ("rules:\n  - {id: a, fingerprint: [a]}", "rules[0] (a): when:"),
    ("rules:\n  - {id: a, when: {error.kind: X}, fingerprint: [a]}", "rules[0] (a): when: 'error.kind' is not a field"),
    ("rules:\n  - {id: a, when: {error.type: {matches: '('}}, fingerprint: [a]}", "rules[0] (a): when.error.type:"),
    ("rules:\n  - {id: a, when: {error.type: {like: x}}, fingerprint: [a]}", "rules[0] (a): when.error.type: "),
    ("rules:\n  - {id: a, when: {error.type: X}}", "rules[0] (a): fingerprint:"),
    ("rules:\n  - {id: a, when: {error.type: X}, fingerprint: ['{nope.field}']}", "rules[0] (a): fingerprint: {nope.field}"),
    ("rules:\n  - {id: a, when: {error.type: X}, fingerprint: [a], title: '{bad}'}", "rules[0] (a): title: {bad}"),
    ("rules:\n  - {id: a, when: {error.type: X}, fingerprint: [a], colour: red}", "rules[0] (a): colour: unknown key"),
])
def test_rule_mistakes_name_file_rule_and_field(tmp_path, text, message):
    with pytest.raises(ValueError) as caught:
        _rules(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "fingerprints.yaml") + ": ")
    assert message in str(caught.value)


def test_a_bad_rules_file_stops_the_app(tmp_path):
    from app import create_app
    from app.config import ConfigError
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - {id: a, when: {error.kind: X}, fingerprint: [a]}\n")
    with pytest.raises((ValueError, ConfigError), match="bad.yaml: rules"):
        create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_FINGERPRINT_FILE": str(path)})


# -- ingest ---------------------------------------------------------------------------------

def test_ingest_stamps_the_fingerprint_on_both_paths(services):
    import json
    normalizer = services.ingestor.normalizer
    raw = {"@timestamp": "2026-11-20T10:00:00Z", "message": "x", "service": {"name": "wallet"},
           "error": {"type": "TimeoutError", "message": "timeout after 5012 ms", "fingerprint": "mine"}}
    line = json.dumps(raw).encode()
    fast = normalizer.normalize(json.loads(line), 1_800_000_000_000, raw_line=line)
    slow = normalizer.normalize(json.loads(line), 1_800_000_000_000)
    expected = fingerprint(raw).value
    assert fast["error"]["fingerprint"] == slow["error"]["fingerprint"] == expected
    other = normalizer.normalize({"message": "job 7 crashed", "event": {"component": "error", "type": "job"}},
                                 1_800_000_000_000)
    assert other["error"]["fingerprint"] == Fingerprinter().fingerprint(
        {"message": "job 8 crashed", "event": {"component": "error"}}).value
    plain = normalizer.normalize({"message": "signed in", "event": {"component": "user_activity", "type": "login"}},
                                 1_800_000_000_000)
    assert "error" not in plain
    faked = normalizer.normalize({"message": "ok", "error": {"fingerprint": expected},
                                  "event": {"component": "user_activity", "type": "login"}}, 1_800_000_000_000)
    assert "fingerprint" not in faked["error"]   # only errors join a group
