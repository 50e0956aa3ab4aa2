"""The field-name grammar: how a field is named in a query, and which label keys can be stored.

One place for both sides: ingest refuses a label key the query language could not name
(app/events/convert.py, the `labels` branch), and the query language refuses `labels.<key>`
with any other key, at its position (app/query/fields.py). A label key is ASCII letters, digits,
`_` and `-` (at most 128): no dots (they nest), quotes, brackets, spaces or other scripts, so
`labels.<key>:value` always finds it, on every store."""

from __future__ import annotations

import re

LABEL_KEY_MAX = 128
LABEL_KEY = re.compile(rf"[A-Za-z0-9_-]{{1,{LABEL_KEY_MAX}}}\Z")
LABELS = "labels."


def label_key_problem(key: str) -> str | None:
    """Why `key` cannot be a label key, or None when it can."""
    if LABEL_KEY.match(key):
        return None
    if not key:
        return "a label key cannot be empty"
    if len(key) > LABEL_KEY_MAX:
        return f"a label key has at most {LABEL_KEY_MAX} characters"
    return f"label key {key[:40]!r}: ASCII letters, digits, _ and - only (so that labels.<key>:value can find it)"
