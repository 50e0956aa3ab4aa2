"""Writing values into the query language: the one place that quotes (pages, rules, links and
the "where found" chips all build queries with these, so a value always reads back as itself)."""

from __future__ import annotations


def quote(value) -> str:
    """A query-language phrase for an exact value: `"…"` with `\\` and `"` escaped."""
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def term(field: str, value) -> str:
    """`field:"value"` — the events whose field holds exactly this value."""
    return f"{field}:{quote(value)}"
