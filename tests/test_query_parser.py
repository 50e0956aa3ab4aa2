"""The query-language parser: query strings -> the AST of app/query/ast.py, and its errors."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.query import parser as parser_module
from app.query import (And, Exists, MatchAll, Not, Or, Prefix, QueryError, Range, Term, Text,
                       parse)
from app.query.fields import QueryField, resolve

A, B, C, D = Text("a"), Text("b"), Text("c"), Text("d")
STATUS = "http.response.status_code"


def error_of(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(query)
    return info.value


# --- free text and boolean structure -------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("", MatchAll()),
    ("   \t\n", MatchAll()),
    ("*", MatchAll()),
    ("timeout", Text("timeout")),
    ("time*", Text("time", prefix=True)),
    ('"connection refused"', Text("connection refused", phrase=True)),
    ("p-1", Text("p-1")),
    ("tx.4711.abc", Text("tx.4711.abc")),           # dots but no ':' -> free text
    ("a*b", Text("a*b")),                            # only a trailing * means prefix
    ("and", Text("and")),
    ("a and b", And((A, Text("and"), B))),
    ("a or b", And((A, Text("or"), B))),
    ("not a", And((Text("not"), A))),
])
def test_free_text(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query, expected", [
    ("a b", And((A, B))),
    ("a AND b", And((A, B))),
    ("a OR b", Or((A, B))),
    ("a b OR c", Or((And((A, B)), C))),
    ("a OR b c", Or((A, And((B, C))))),
    ("a AND b OR c AND d", Or((And((A, B)), And((C, D))))),
    ("a OR b OR c", Or((A, B, C))),
    ("a OR (b OR c)", Or((A, B, C))),
    ("(a b) c", And((A, B, C))),
    ("(a OR b) c", And((Or((A, B)), C))),
    ("((a))", A),
    ("NOT a", Not(A)),
    ("NOT a b", And((Not(A), B))),
    ("a AND NOT b", And((A, Not(B)))),
    ("NOT (a OR b)", Not(Or((A, B)))),
    ("NOT NOT a", Not(Not(A))),
    ("-a", Not(A)),
    ("a -b", And((A, Not(B)))),
    ("--a", Not(Not(A))),
    ("-(a b)", Not(And((A, B)))),
    ('-"a b"', Not(Text("a b", phrase=True))),
    ("-actor.id:p1", Not(Term("actor.id", "p1"))),
    ("-p-1", Not(Text("p-1"))),
    ("NOT(a)", Not(A)),
    ('a"b"', And((A, Text("b", phrase=True)))),
    ("a* OR b", Or((Text("a", prefix=True), B))),
    ("a AND *", A),                                  # MatchAll adds nothing to an AND
    ("a OR *", MatchAll()),
])
def test_boolean_structure(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query, expected", [
    (r"a\:b", Text("a:b")),
    (r"actor.id\:p1", Text("actor.id:p1")),
    (r"\(x\)", Text("(x)")),
    (r"a\ b", Text("a b")),
    (r"a\*", Text("a*")),
    (r"a\**", Text("a*", prefix=True)),
    (r"\AND", Text("AND")),
    (r"\-a", Text("-a")),
    (r"\*x", Text("*x")),
    (r'foo\"bar', Text('foo"bar')),
    (r"a\\", Text("a\\")),
    ("a\\", Text("a\\")),                            # a trailing backslash is kept
    (r'"say \"hi\""', Text('say "hi"', phrase=True)),
    (r'"back\\slash"', Text("back\\slash", phrase=True)),
    (r'"C:\temp\new"', Text(r"C:\temp\new", phrase=True)),   # other escapes stay literal
    ('"a OR b AND (c)"', Text("a OR b AND (c)", phrase=True)),
    ('"x*"', Text("x*", phrase=True)),
])
def test_escapes_and_phrases(query, expected):
    assert parse(query) == expected


# --- fields --------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("actor.id:p1", Term("actor.id", "p1")),
    ("actor.id:p-1", Term("actor.id", "p-1")),
    ("actor.id: p1", Term("actor.id", "p1")),        # space after the colon is tolerated
    ("actor.id:p1*", Prefix("actor.id", "p1")),
    ("actor.id:*", Exists("actor.id")),
    ('actor.id:"p 1"', Term("actor.id", "p 1")),
    ('actor.id:"p1*"', Term("actor.id", "p1*")),
    (r"actor.id:p\ 1", Term("actor.id", "p 1")),
    (r"actor.id:p1\*", Term("actor.id", "p1*")),
    (r"actor.id:\*", Term("actor.id", "*")),
    ("actor.id:and", Term("actor.id", "and")),
    ("url.path:/api/v1/x", Term("url.path", "/api/v1/x")),
    ("correlation.id:abc:def", Term("correlation.id", "abc:def")),
    ("url.full:https://x.example/a?b=1", Term("url.full", "https://x.example/a?b=1")),
    ("event.action:login_failed", Term("event.action", "login_failed")),
    ("@timestamp:now-15m", Term("@timestamp", "now-15m")),
    ("actor.ip:10.0.0.1", Term("actor.ip", "10.0.0.1")),
    ("source.ip:10.0.*", Prefix("source.ip", "10.0.")),
    ("actor.roles:admin", Term("actor.roles", "admin")),
    ("labels.vip_tier:gold", Term("labels.vip_tier", "gold")),
    ("labels.vip_tier:g*", Prefix("labels.vip_tier", "g")),
    ("labels.vip_tier:[a TO m]", Range("labels.vip_tier", "a", "m")),
    ("labels.vip_tier:*", Exists("labels.vip_tier")),
    ("labels:*", Exists("labels")),
    ("changes.field:deposit_limit", Term("changes.field", "deposit_limit")),
    ("changes:*", Exists("changes")),
    ("payment.transaction_id:tx-1 actor.id:p1",
     And((Term("payment.transaction_id", "tx-1"), Term("actor.id", "p1")))),
    ("(actor.id:p1)", Term("actor.id", "p1")),
    ("actor.id:p1)", None),
])
def test_field_values(query, expected):
    if expected is None:
        assert error_of(query).message == "unexpected ')'"
    else:
        assert parse(query) == expected


@pytest.mark.parametrize("query, expected", [
    ("message:timeout", Text("timeout", field="message")),
    ('message:"connection refused"', Text("connection refused", phrase=True, field="message")),
    ("message:time*", Text("time", prefix=True, field="message")),
    ("message:*", Exists("message")),
    ("error.message:NullPointer*", Text("NullPointer", prefix=True, field="error.message")),
    ("error.stack_trace:Handler.java", Text("Handler.java", field="error.stack_trace")),
    ('message:(timeout OR "refused by peer")',
     Or((Text("timeout", field="message"), Text("refused by peer", phrase=True, field="message")))),
])
def test_text_fields(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query", ["message:[a TO b]", "message:>a", "error.message:{* TO x}"])
def test_text_fields_refuse_ranges(query):
    error = error_of(query)
    assert "full-text" in error.message and "range" in error.message
    assert error.position == query.index(":") + 1


@pytest.mark.parametrize("query, expected", [
    ("actor.id:(a OR b OR c)", Or((Term("actor.id", "a"), Term("actor.id", "b"), Term("actor.id", "c")))),
    ("actor.id:( a  OR  b )", Or((Term("actor.id", "a"), Term("actor.id", "b")))),
    ("actor.id:(a)", Term("actor.id", "a")),
    ('actor.id:(p1* OR "p 2" OR *)',
     Or((Prefix("actor.id", "p1"), Term("actor.id", "p 2"), Exists("actor.id")))),
    (f"{STATUS}:(500 OR [502 TO 504] OR >=599)",
     Or((Term(STATUS, "500"), Range(STATUS, "502", "504"), Range(STATUS, "599", None)))),
    ("x OR actor.id:(a OR b)", Or((Text("x"), Term("actor.id", "a"), Term("actor.id", "b")))),
    ("NOT actor.id:(a OR b) c", And((Not(Or((Term("actor.id", "a"), Term("actor.id", "b")))), C))),
])
def test_field_groups(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query, position, expected, fragment", [
    ("actor.id:(a b)", 12, "OR or ')'", "expected OR or ')'"),
    ("actor.id:(a AND b)", 12, "OR or ')'", "expected OR or ')'"),
    ("actor.id:(a OR b", 16, "')'", "missing ')' to close '(' at position 9"),
    ("actor.id:(", 10, None, "expected a value after 'actor.id:('"),
    ("actor.id:()", 10, None, "expected a value after 'actor.id:('"),
    ("actor.id:(a OR)", 14, None, "expected a value after OR"),
    ("actor.id:(a OR (b))", 15, None, "expected a value after OR"),
    (f"{STATUS}:(500 OR x)", len(STATUS) + 9, "a number", "expected a number"),
])
def test_field_group_errors(query, position, expected, fragment):
    error = error_of(query)
    assert fragment in error.message
    assert error.position == position
    if expected:
        assert error.expected == expected


# --- ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    (f"{STATUS}:[500 TO 599]", Range(STATUS, "500", "599", True, True)),
    (f"{STATUS}:{{500 TO 599}}", Range(STATUS, "500", "599", False, False)),
    (f"{STATUS}:[500 TO 599}}", Range(STATUS, "500", "599", True, False)),
    (f"{STATUS}:{{500 TO 599]", Range(STATUS, "500", "599", False, True)),
    (f"{STATUS}:[ 500  TO  599 ]", Range(STATUS, "500", "599")),
    (f"{STATUS}:[500 TO *]", Range(STATUS, "500", None)),
    (f"{STATUS}:[* TO 599}}", Range(STATUS, None, "599", True, False)),
    (f"{STATUS}:{{* TO 599]", Range(STATUS, None, "599")),     # an open end's bracket does not matter
    (f"{STATUS}:[* TO *]", Exists(STATUS)),
    (f"{STATUS}:>=500", Range(STATUS, "500", None, True)),
    (f"{STATUS}:>500", Range(STATUS, "500", None, False)),
    (f"{STATUS}:<=499", Range(STATUS, None, "499", True, True)),
    (f"{STATUS}:<500", Range(STATUS, None, "500", True, False)),
    (f"{STATUS}:>= 500", Range(STATUS, "500", None)),
    ("http.duration:[0.5 TO 1e3]", Range("http.duration", "0.5", "1e3")),
    ("payment.amount:>-10.25", Range("payment.amount", "-10.25", None, False)),
    ("@timestamp:>now-1h", Range("@timestamp", "now-1h", None, False)),
    ("@timestamp:[2026-01-01T00:00:00Z TO now]", Range("@timestamp", "2026-01-01T00:00:00Z", "now")),
    ('@timestamp:["2026-01-01 10:00" TO *]', Range("@timestamp", "2026-01-01 10:00", None)),
    ("@timestamp:[1767225600000 TO now-7d}", Range("@timestamp", "1767225600000", "now-7d", True, False)),
    ("event.ingested:<now", Range("event.ingested", None, "now", True, False)),
    ("actor.id:[p1 TO p5]", Range("actor.id", "p1", "p5")),
    (r"actor.id:[a\] TO b]", Range("actor.id", "a]", "b")),
    ("actor.id:[a TO b] c", And((Range("actor.id", "a", "b"), C))),
])
def test_ranges(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query, position, expected, fragment", [
    ("actor.id:[1", 11, "TO", "expected TO"),
    ("actor.id:[1 5]", 12, "TO", "expected TO"),
    ("actor.id:[1 to 5]", 12, "TO", "expected TO"),
    ("actor.id:[1 TO", 14, "a value or *", "expected an upper bound"),
    ("actor.id:[1 TO ]", 15, "a value or *", "expected an upper bound"),
    ("actor.id:[ TO 5]", 11, "a value or *", "expected a lower bound"),
    ("actor.id:[1 TO 5", 16, "']' or '}'", "missing ']' or '}' to close '[' at position 9"),
    ("actor.id:[1 TO 5 6]", 17, "']' or '}'", "expected ']' or '}'"),
    ("actor.id:[1* TO 5]", 10, None, "prefix"),
    ("actor.id:>", 10, None, "expected a value after '>'"),
    ("actor.id:>=*", 11, None, "expected a value after '>='"),
    ("actor.id:< OR b", 11, None, "expected a value after '<'"),
    (f"{STATUS}:[500 TO abc]", len(STATUS) + 9, "a number", "expected a number for " + STATUS),
    (f"{STATUS}:>5xx", len(STATUS) + 2, "a number", "expected a number for " + STATUS),
    ("@timestamp:[yesterday TO now]", 12, None, "'yesterday' is not a time"),
    ("source.ip:[10.0.0.1 TO 10.0.0.9]", 10, None, "source.ip is an IP address field"),
    ("actor.ip:>10.0.0.1", 9, None, "ranges are not possible; use a prefix such as actor.ip:10.0.*"),
])
def test_range_errors(query, position, expected, fragment):
    error = error_of(query)
    assert fragment in error.message
    assert error.position == position
    if expected:
        assert error.expected == expected


# --- typed values --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["200", "-1", "+3", "1.5", ".5", "5.", "1e3", "2.5E-3"])
def test_numbers(value):
    assert parse(f"http.duration:{value}") == Term("http.duration", value)
    assert parse(f"{STATUS}:{value}") == Term(STATUS, value)


@pytest.mark.parametrize("value", ["abc", "1_000", "nan", "inf", "0x10", "1,5", "--1", "1e", "²"])
def test_numbers_refuse_other_values(value):
    error = error_of(f"{STATUS}:{value}")
    assert error.message == f"expected a number for {STATUS}, not {value!r}"
    assert error.position == len(STATUS) + 1
    assert error.field == STATUS


def test_numbers_refuse_prefixes():
    error = error_of(f"a {STATUS}:50*")
    assert "prefix" in error.message and f"{STATUS}:[500 TO 599]" in error.message
    assert error.position == len(STATUS) + 3


@pytest.mark.parametrize("value", ["2026-11-26T10:00:00Z", "2026-11-26", "1767225600000", "now",
                                   "now-15m", "now+1d", '"2026-11-26 10:00:00+01:00"'])
def test_dates(value):
    assert parse(f"@timestamp:{value}") == Term("@timestamp", value.strip('"'))


@pytest.mark.parametrize("value", ["yesterday", "now-15x", "12345", "2026-13-01", "²²²²²²²²²²"])
def test_dates_refuse_non_times(value):
    error = error_of(f"event.ingested:{value}")
    assert "not a" in error.message and "time" in error.message
    assert error.position == len("event.ingested:")
    assert error.field == "event.ingested"


def test_dates_refuse_prefixes():
    error = error_of("@timestamp:2026-11*")
    assert "prefix" in error.message and error.position == 11


@pytest.fixture
def boolean_field(monkeypatch):
    """The schema has no boolean field yet; pretend `flag` is one."""
    def fake(name, position=None):
        return QueryField("flag", "boolean", ("flag",)) if name == "flag" else resolve(name, position)
    monkeypatch.setattr(parser_module, "resolve", fake)


def test_booleans(boolean_field):
    assert parse("flag:true") == Term("flag", "true")
    assert parse("flag:FALSE") == Term("flag", "false")
    assert parse("flag:(True OR false)") == Or((Term("flag", "true"), Term("flag", "false")))
    assert parse("flag:*") == Exists("flag")
    error = error_of("flag:yes")
    assert error.message == "expected true or false for flag, not 'yes'" and error.position == 5
    assert "prefix" in error_of("flag:tr*").message
    assert "ranges are not possible" in error_of("flag:[false TO true]").message


# --- namespaces and unknown fields ---------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("error:*", Exists("error")),
    ("http:*", Exists("http")),
    ("http.response:*", Exists("http.response")),
    ("NOT error:*", Not(Exists("error"))),
])
def test_namespaces_exist(query, expected):
    assert parse(query) == expected


@pytest.mark.parametrize("query", ["error:timeout", 'error:"x"', "error:x*", "error:[a TO b]",
                                   "error:>1", "error:(a OR b)", "labels:gold", "changes:limit"])
def test_namespaces_refuse_values(query):
    error = error_of("x " + query)
    name = query.split(":")[0]
    assert error.message.startswith(f"{name} is a group of fields; use {name}.<name>:value, "
                                    f"or {name}:* for presence")
    assert error.position == 2
    assert error.field == name


def test_namespace_error_lists_some_fields():
    assert "error.type" in error_of("error:x").message


@pytest.mark.parametrize("query, position", [
    ("acter.id:p1", 0),
    ("a OR acter.id:p1", 5),
    ("(a -acter.id:p1)", 4),
])
def test_unknown_field_suggests_nearest(query, position):
    error = error_of(query)
    assert error.message == "unknown field 'acter.id'; did you mean 'actor.id'?"
    assert error.position == position
    assert error.field == "acter.id"


def test_unknown_field_without_suggestion():
    error = error_of("zzzzzzzz:1")
    assert error.message == "unknown field 'zzzzzzzz'" and error.position == 0


# --- syntax errors -------------------------------------------------------------------------

@pytest.mark.parametrize("query, message, position, expected", [
    ("actor.id:", "expected a value after 'actor.id:'", 9, 'a value, "a phrase", * or a range'),
    ("actor.id:   ", "expected a value after 'actor.id:'", 12, 'a value, "a phrase", * or a range'),
    ("(actor.id:)", "expected a value after 'actor.id:'", 10, 'a value, "a phrase", * or a range'),
    ("actor.id:OR b", "expected a value after 'actor.id:'", 9, 'a value, "a phrase", * or a range'),
    ("(a OR b", "missing ')' to close '(' at position 0", 7, "')'"),
    ("a (b (c)", "missing ')' to close '(' at position 2", 8, "')'"),
    ("a OR", "expected a search term after OR", 4, "a search term"),
    ("a AND", "expected a search term after AND", 5, "a search term"),
    ("a AND OR b", "expected a search term after AND", 6, "a search term"),
    ("AND b", "expected a search term before AND", 0, "a search term"),
    ("OR b", "expected a search term before OR", 0, "a search term"),
    ("NOT", "expected a search term after NOT", 3, "a search term"),
    ("a NOT )", "expected a search term after NOT", 6, "a search term"),
    ("()", "expected a search term after '('", 1, "a search term"),
    (")", "unexpected ')'", 0, None),
    ("a b)", "unexpected ')'", 3, None),
    ("(a))", "unexpected ')'", 3, None),
    ('"unterminated', "unterminated phrase starting at position 0", 13, '"'),
    ('a "b c', "unterminated phrase starting at position 2", 6, '"'),
    ('actor.id:"p1', "unterminated phrase starting at position 9", 12, '"'),
    ('""', "empty phrase", 0, None),
    ('a message:""', "empty phrase", 10, None),
])
def test_syntax_errors(query, message, position, expected):
    error = error_of(query)
    assert error.message.startswith(message)
    assert error.position == position
    if expected:
        assert error.expected == expected


def test_error_as_dict():
    assert error_of("a OR").as_dict() == {
        "message": "expected a search term after OR", "position": 4, "expected": "a search term"}


# --- limits --------------------------------------------------------------------------------

def test_query_length_limit():
    assert parse("a" * 4096) == Text("a" * 4096)
    error = error_of("a" * 4097)
    assert "too long" in error.message and error.position == 4096


def test_clause_limit():
    assert parse(" ".join(["a"] * 256)) == And((A,) * 256)
    error = error_of(" ".join(["a"] * 257))
    assert "too many" in error.message and error.position == 512
    values = " OR ".join(["a"] * 255)                # each value of a field group counts
    node = parse(f"b actor.id:({values})")
    assert node.items[0] == B and len(node.items[1].items) == 255
    assert "too many" in error_of(f"b c actor.id:({values})").message


def test_nesting_limit():
    assert parse("(" * 32 + "a" + ")" * 32) == A
    error = error_of("(" * 33 + "a" + ")" * 33)
    assert "nested too deeply" in error.message and error.position == 32
    assert parse("NOT " * 32 + "a") is not None
    error = error_of("NOT " * 33 + "a")
    assert "nested too deeply" in error.message and error.position == 128
    assert "nested too deeply" in error_of("-" * 40 + "a").message
    assert "nested too deeply" in error_of("(NOT " * 17 + "a" + ")" * 17).message


@pytest.mark.parametrize("query", ["(" * 100_000, "NOT " * 100_000, "-" * 100_000 + "a",
                                   "(" * 4000, "NOT " * 1000, '"' * 100_000, "a " * 2000])
def test_hostile_input_fails_fast(query):
    started = time.perf_counter()
    with pytest.raises(QueryError):
        parse(query)
    assert time.perf_counter() - started < 0.5


# --- properties ----------------------------------------------------------------------------

NODE_TYPES = (MatchAll, Text, Term, Prefix, Range, Exists, And, Or, Not)


def check_total(query: str) -> None:
    """parse() returns a normalised AST or raises a QueryError with a usable position."""
    try:
        node = parse(query)
    except QueryError as error:
        assert isinstance(error.message, str) and error.message
        assert str(error) == error.message
        assert error.position is None or 0 <= error.position <= len(query)
        return
    check_node(node)


def check_node(node) -> None:
    assert isinstance(node, NODE_TYPES)
    if isinstance(node, (And, Or)):
        assert len(node.items) >= 2
        for item in node.items:
            assert not isinstance(item, type(node)), "nested And/Or of the same kind"
            assert not isinstance(item, MatchAll)
            check_node(item)
    elif isinstance(node, Not):
        check_node(node.item)
    elif isinstance(node, Text):
        assert node.value or node.prefix


GRAMMARISH = ' ()":*-[]{}TOANDRNOT\\abc.1<>='
TOKENS = ["actor.id:", "message:", "error:", "@timestamp:", f"{STATUS}:", "labels.x:", "acter.id:",
          "OR", "AND", "NOT", "-", "(", ")", '"', "*", " ", "a", "p-1", "time*", r"\:", "\\",
          "[1 TO 5]", "{* TO now}", ">=", "<", "5", "now-1h", "TO", "[", "]", "}", '"a b"']


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_query_error(query):
    check_total(query)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=GRAMMARISH))
def test_grammarish_text_parses_or_raises_query_error(query):
    check_total(query)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=20), st.lists(st.booleans(), max_size=20))
def test_token_soup_parses_or_raises_query_error(tokens, spaces):
    query = "".join(t + (" " if i < len(spaces) and spaces[i] else "") for i, t in enumerate(tokens))
    check_total(query)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["actor.id:p1", "message:x*", "a", '"b c"', f"{STATUS}:>=500",
                                 "error:*", "labels.t:[a TO b}"]), min_size=1, max_size=6),
       st.sampled_from([" ", " AND ", " OR "]))
def test_valid_terms_always_parse(terms, joiner):
    query = joiner.join(terms)
    check_node(parse(query))
    check_node(parse(f"NOT ({query})"))
