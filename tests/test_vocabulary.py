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
