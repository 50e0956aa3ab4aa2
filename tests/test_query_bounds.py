"""Values the stores cannot hold are refused by the parser, at their position (never a 500 from
the store): numbers beyond 64 bits or a double, times outside the years 1 to 9999, IP fields
compared with something that is no address, full text without a word, label keys the grammar
cannot name."""
from __future__ import annotations

import pytest

from app.events.names import label_key_problem
from app.query import QueryError, Term, parse
from app.query.timeexpr import parse_time


def error_of(query: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(query)
    return caught.value


@pytest.mark.parametrize("query, position", [
    ("http.response.status_code:99999999999999999999", 26),
    ("http.response.status_code:>99999999999999999999", 27),
    ("http.response.status_code:<-99999999999999999999", 27),
    ("http.response.status_code:9223372036854775808", 26),
    ("event.duration:[1 TO 99999999999999999999]", 21),
    ("event.duration:>1e9999999999999999999", 16),
    ("payment.amount:1e400", 15),
    ("payment.amount:[-1e309 TO 0]", 16),
])
def test_numbers_out_of_range_are_refused_at_their_position(query, position):
    error = error_of(query)
    assert "out of range" in error.message and error.position == position


@pytest.mark.parametrize("query", ["http.response.status_code:9223372036854775807",
                                   "http.response.status_code:-9223372036854775808", "payment.amount:1e308"])
def test_numbers_at_the_limits_are_fine(query):
    parse(query)


@pytest.mark.parametrize("query, position", [
    ("@timestamp:>9999999999999999999", 12), ("@timestamp:[now-1000000d TO now]", 12),
    ("event.ingested:10000-01-01", 15), ("@timestamp:<now+999999999w", 12),
])
def test_times_out_of_range_are_refused_at_their_position(query, position):
    error = error_of(query)
    assert error.position == position and ("out of range" in error.message or "not a" in error.message)


@pytest.mark.parametrize("value", ["now-1000000d", "9999999999999999999", "²²²²²²²²²²", "10000-01-01"])
def test_time_parameters_out_of_range_are_query_errors(value):
    with pytest.raises(QueryError) as caught:
        parse_time(value, 1_764_000_000_000, "from")
    assert caught.value.field == "from"


@pytest.mark.parametrize("query, position", [("actor.ip:foo", 9), ("a source.ip:10.0.0.0/8", 12),
                                             ("actor.ip:(10.0.0.1 OR x)", 22)])
def test_ip_fields_compare_with_addresses(query, position):
    error = error_of(query)
    assert "IP address" in error.message and error.position == position


@pytest.mark.parametrize("query, position", [("- a", 0), ("a !!!", 2), ('message:"..."', 8), ("message:*!*", 8)])
def test_full_text_without_a_word_is_refused_at_its_position(query, position):
    error = error_of(query)
    assert "no letters or digits" in error.message and error.position == position


def test_label_keys_follow_one_grammar_in_queries_and_at_ingest():
    assert parse("labels.build-id:x") == Term("labels.build-id", "x")
    for key in ['a"b', "a]b", "é", "a b", "", "x" * 129]:
        assert label_key_problem(key), key
    for query, position in [("labels.a[0]:x", 0), ("x labels.é:1", 2), ("labels.a'b:1", 0)]:
        error = error_of(query)
        assert error.position == position and "not a label field" in error.message, query
    assert error_of('labels.a"b:x').position == 12   # a quote starts a phrase: this one is unterminated


def test_ingest_refuses_label_keys_a_query_could_not_name(client, ingest_headers):
    events = [{"@timestamp": "2026-11-20T10:00:00.000Z", "message": "m", "labels": {key: "v"}}
              for key in ['a"b', "a[0]", "région", "build-id"]]
    report = client.post("/api/v1/events", json=events, headers=ingest_headers).json
    assert report["accepted"] == 1 and report["rejected"] == 3
    assert all(e["field"] == "labels" and "label key" in e["reason"] for e in report["errors"])
