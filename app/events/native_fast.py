"""The normaliser's fast path in Rust: `platlogs_native.FastPath` (native/src/fast.rs, scan.rs)
decides, for a raw JSON line and the object orjson parsed from it, what `Normalizer._normalize`'s
fast path decides (no redaction possible, no key to rewrite, no tolerant shape, within the
limits, every known field canonical, no repeated key) and returns its columns — or None, and
Python (the reference) does all of it as before. It declines wherever it is not sure: a value
Python would convert in place, a top-level key that may start a tolerant shape, `changes`, a
non-ASCII line with a run of 13 digit-like characters. It never changes the object.

Nothing is written twice: the schema tree, the limits and what the redactor looks for (needles,
the digit table, the separators, the spellings of secret names) are handed over from the Python
objects at construction; keys are judged by `Normalizer._judge_key` itself (remembered in its
`_good_keys`). tests/test_native_normalize.py holds the two paths to equal stored events.

`PLATLOGS_NATIVE=0` forces Python; so does a redactor with a pattern without a needle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import redact
from .convert import _CANONICAL_IPV4, _UPPER_ASCII, MAX_KEYWORD_CHARS, Leaf
from .names import LABEL_KEY
from .shapes import TRIGGERS

try:
    import platlogs_native
except ImportError:  # not built here: the Python path
    platlogs_native = None

# what native/src/fast.rs has written in (checked here, so that a change here switches it off)
_NATIVE_CONSTANTS = (
    MAX_KEYWORD_CHARS == 8192
    and LABEL_KEY.pattern == r"[A-Za-z0-9_-]{1,128}\Z"
    and _CANONICAL_IPV4.pattern
    == r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z"
    and _UPPER_ASCII.pattern == r"[A-Z0-9_-]*\Z"
)


def enabled() -> bool:
    return (
        platlogs_native is not None
        and hasattr(platlogs_native, "FastPath")
        and os.environ.get("PLATLOGS_NATIVE", "1") != "0"
        and _NATIVE_CONSTANTS
    )


def _describe(tree: dict) -> dict:
    out: dict[str, Any] = {}
    for key, spec in tree.items():
        if type(spec) is dict:
            out[key] = _describe(spec)
            continue
        leaf: Leaf = spec
        canonical = {None: 0, _CANONICAL_IPV4.match: 1, _UPPER_ASCII.match: 2}[leaf.canonical]
        out[key] = (leaf.column, leaf.kind, leaf.plain, sorted(leaf.allowed), leaf.numeric, canonical)
    return out


def build(normalizer: Any) -> Callable | None:
    """`check(raw, raw_line, good_keys, judge)`, or None when the native path is off or cannot
    mirror this normaliser's redactor."""
    redactor = normalizer.redactor
    if not enabled() or redactor.unguarded or not all(redactor.needles):
        return None
    tails, _ = redactor._tails_bytes
    if not all(tails):
        return None
    try:
        return platlogs_native.FastPath(
            _describe(normalizer._tree),
            TRIGGERS,
            normalizer.max_fields,
            normalizer.max_depth,
            list(redactor.needles),
            redact._DIGITS_TO_ZERO,
            redact._ASCII_SEPARATORS,
            list(tails),
            redactor._reach,
            normalizer._escapes_ok,
        ).check
    except (ValueError, TypeError, OverflowError, KeyError):  # limits or a tree it cannot mirror
        return None
