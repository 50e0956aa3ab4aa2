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
