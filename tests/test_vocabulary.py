"""Shared vocabulary, written once (issue 16): query text is quoted by app/query/quoting.py only,
times are written by app/events/convert.format_ts only, and what an integration failure is lives in
app/events/failures.yaml, used by the control view and the shipped rule alike."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from app.query import Not, Term, Text, parse
from app.query.quoting import quote, term
from app.query.sql import fts_words

APP = Path(__file__).resolve().parents[1] / "app"

# Hostile values: quotes, backslashes, colons, spaces, brackets, operators, leading '-', unicode
# (combining marks, right-to-left, astral), control characters. The empty value has no query text.
HOSTILE = st.text(alphabet=st.one_of(st.sampled_from('"\\:*?()[]{}<>=-+!~^/ \t\n\'&|'),
                                     st.characters(blacklist_categories=("Cs",))),
                  min_size=1, max_size=60)


@given(HOSTILE)
@settings(max_examples=400, deadline=None)
@example('"')
@example("\\")
@example('\\"')
@example('a\\')
@example("-1")
@example("player:1 OR actor.id:*")
@example(" ")
@example("AND")
@example("x\"y\\\\z")
@example("naïve ✓ 𝔘 \u202e")
def test_a_quoted_value_reads_back_as_itself(value):
    assert parse(term("actor.id", value)) == Term("actor.id", value)
    assert parse("-" + term("labels.source", value)) == Not(Term("labels.source", value))
    assert parse(f"event.component:api AND {term('url.path', value)}").items[1] == Term("url.path", value)


@given(HOSTILE.filter(lambda v: bool(fts_words(v))))
@settings(max_examples=200, deadline=None)
@example('say "hi" \\ there')
def test_a_quoted_phrase_reads_back_as_itself(value):
    assert parse(quote(value)) == Text(value, phrase=True)
    assert parse(term("message", value)) == Text(value, phrase=True, field="message")


# Escaping for other languages than ours: SQL identifiers and FTS5 (sql.py), OpenSearch's
# wildcard (dsl.py), syslog structured data (syslog/parse.py), JSON lines (events/lines.py).
OTHER_LANGUAGES = {"query/quoting.py", "query/sql.py", "query/dsl.py", "syslog/parse.py", "events/lines.py"}


def test_no_module_quotes_query_text_by_hand():
    offenders = []
    for path in sorted(APP.rglob("*.py")):
        if str(path.relative_to(APP)) in OTHER_LANGUAGES:
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(APP.parent)}: {m.group()}"
                      for m in re.finditer(r"""replace\(\s*(?:'"'|"\\\\"|'\\\\')[^)]*\)""", text)]
    assert offenders == []


# -- times ---------------------------------------------------------------------------------------

def test_one_formatter_writes_every_time():
    from datetime import datetime, timedelta, timezone
    from app.events.convert import format_ts
    ms = 1_795_000_020_123
    assert format_ts(ms) == "2026-11-18T11:07:00.123Z"
    aware = datetime(2026, 11, 18, 11, 7, 0, 123_999, tzinfo=timezone.utc)
    assert format_ts(aware) == format_ts(aware.replace(tzinfo=None)) == format_ts(ms)   # naive is UTC
    assert format_ts(aware.astimezone(timezone(timedelta(hours=2)))) == format_ts(ms)
    assert format_ts("2026-11-18T11:07:00.123Z") == format_ts(float(ms)) == format_ts(ms)
    assert format_ts(ms, "second") == "2026-11-18 11:07:00 UTC"
    assert format_ts(ms, "minute") == "2026-11-18 11:07 UTC"
    assert format_ts(ms, "day") == "2026-11-18"
    assert format_ts(0) == "1970-01-01T00:00:00.000Z" and format_ts(-1) == "1969-12-31T23:59:59.999Z"
    with pytest.raises(TypeError):
        format_ts(None)


# Where a time is written in a format that is not ours to choose (format_ts's docstring lists them).
TIME_FORMAT_EXCEPTIONS = {
    "storage/opensearch_layout.py",   # index generation names: <prefix>-<component>-g%Y%m%dt%H%M
    "ingest/es_views.py",             # the Elasticsearch _cat answers' HH:MM:SS
    "web/search_api.py",              # the export's file name: no colons
    "storage/migrate.py",             # window names: keys of checkpoints already written
    "demo/catalog.py",                # a made-up stack trace's source line, not a time written
}


def test_no_module_formats_times_by_hand():
    offenders = []
    for path in sorted(APP.rglob("*.py")) + sorted(APP.rglob("*.html")):
        name = str(path.relative_to(APP))
        if name == "events/convert.py" or name in TIME_FORMAT_EXCEPTIONS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"strftime|\.isoformat\(|%Y|\|replace\('T'", line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


# -- what a refusal is -----------------------------------------------------------------------------

def test_413_is_decided_by_the_oversized_type_not_by_the_words_of_a_reason():
    from app.events.convert import EventError
    from app.ingest.ndjson import oversized
    from app.ingest.pipeline import Ingestor
    from types import SimpleNamespace

    def status(*errors):
        # the items are refusals found while reading: neither the normaliser nor the store is asked
        return Ingestor(SimpleNamespace(normalize=None), None).ingest(enumerate(errors)).status

    assert status(oversized(70_000, 65_536)) == 413
    assert status(oversized(70_000, 65_536), oversized(80_000, 65_536)) == 413
    assert status(EventError("event is 9 bytes, over the limit of 1")) == 400   # the same words, not the type
    assert status(oversized(70_000, 65_536), EventError("expected a string", "message")) == 400


# -- what a failure is -----------------------------------------------------------------------------

REPO = APP.parent


def _queries(node, where=""):
    """(where, text) of every query-like string of a loaded YAML file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key.endswith("query"):
                yield f"{where}.{key}", value
            else:
                yield from _queries(value, f"{where}.{key}")
    elif isinstance(node, list):
        for n, item in enumerate(node):
            yield from _queries(item, f"{where}[{n}]")


def test_the_shipped_rule_counts_the_defined_integration_failures():
    import yaml
    from app.events.failures import INTEGRATION_FAILURE_QUERY
    rule = yaml.safe_load((REPO / "alerts" / "integration-failing-per-provider.yaml").read_text())
    assert rule["failure_query"] == INTEGRATION_FAILURE_QUERY


def test_every_shipped_query_about_failures_holds_the_definitions_text():
    """A shipped file that names integration statuses or failure levels says exactly what
    failures.yaml says (a copy that drifted would count other events)."""
    import yaml
    from app.events.failures import FAILURE_LEVEL_QUERY, FAILURE_QUERY, INTEGRATION_FAILURE_QUERY
    checked = 0
    for path in sorted((REPO / "alerts").glob("*.yaml")) + sorted((REPO / "dashboards").glob("*.yaml")):
        for where, text in _queries(yaml.safe_load(path.read_text())):
            for clause in re.findall(r"(?:integration\.status|log\.level):\([^)]*\)", text):
                checked += 1
                assert clause in (INTEGRATION_FAILURE_QUERY, FAILURE_LEVEL_QUERY) or \
                    f"NOT {clause}" in FAILURE_QUERY, f"{path.name}{where}: {clause}"
            if "event.outcome:failure OR" in text:   # the whole definition, not one of its parts
                assert FAILURE_QUERY in text, f"{path.name}{where}"
    assert checked >= 5


def test_the_control_view_and_the_query_use_the_definition():
    from app.events.failures import INTEGRATION_FAILURE_STATUSES, is_integration_failure
    from app.search import control, control_health
    assert control_health.INTEGRATION_FAILURE == f"integration.status:({' OR '.join(INTEGRATION_FAILURE_STATUSES)})"
    assert control.ERRORS_QUERY.startswith("log.level:(error OR critical OR alert OR emergency) OR ")
    assert all(is_integration_failure({"integration": {"status": s}}) for s in INTEGRATION_FAILURE_STATUSES)
    assert not is_integration_failure({"integration": {"status": "declined"}})


@pytest.mark.parametrize("text, message", [
    ("- error\n", "expected a mapping"),
    ("failure_levels: [error]\nsuccess_statuses: [ok]\nintegration_failure_statuses: []\ntimeout_status: x\n",
     "integration_failure_statuses: expected a non-empty list"),
    ("failure_levels: [error]\nsuccess_statuses: ['ok OR *']\nintegration_failure_statuses: [timeout]\n"
     "timeout_status: timeout\n", "success_statuses: 'ok OR *' is not a plain"),
    ("failure_levels: [error]\nsuccess_statuses: [ok]\nintegration_failure_statuses: [error]\n"
     "timeout_status: timeout\n", "timeout_status: 'timeout' is not one of"),
    ("failure_levels: [error]\nsuccess_statuses: [ok]\nintegration_failure_statuses: [timeout]\n"
     "timeout_status: timeout\nfailure_level: [x]\n", "unknown entry 'failure_level'"),
])
def test_a_bad_definition_is_refused_naming_file_and_entry(tmp_path, text, message):
    from app.events.failures import DefinitionError, load_definition
    path = tmp_path / "failures.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError, match=re.escape(message)) as caught:
        load_definition(path)
    assert str(path) in str(caught.value)


# -- reading a field of an event -------------------------------------------------------------------

def test_one_function_reads_a_field_of_an_event():
    from app.events.schema import get_path
    event = {"@timestamp": "2026-11-18T11:07:00.123Z", "error": {"type": "Timeout", "code": None},
             "labels": {"k": "v"}, "message": "m"}
    assert get_path(event, "@timestamp") == "2026-11-18T11:07:00.123Z"
    assert get_path(event, "error.type") == get_path(event, ("error", "type")) == "Timeout"
    assert get_path(event, "message") == "m" and get_path(event, "labels.k") == "v"
    assert get_path(event, "error.type.name") is None and get_path(event, "actor.id") is None
    assert get_path(event, "message.x") is None and get_path(None, "a") is None
    users = [f"{p.relative_to(APP)}" for p in APP.rglob("*.py") if re.search(r"\bvalue_at\b", p.read_text())]
    assert users == []
