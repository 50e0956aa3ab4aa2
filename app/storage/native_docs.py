"""The tantivy document in Rust: `platlogs_native.DocumentBuilder` (native/, built and installed
by scripts/test and scripts/demo) writes the same JSON line as `Converter.document`
(app/storage/tantivy_schema.py, the reference) from the event's orjson bytes, in about a tenth
of the time (bench/native_docs.py), or declines (None) and Python writes it.

Nothing about events is written twice: the builder is given, once, what the Python code decides
from — the searchable tree and its kinds (app/query/searchable.py), the identifier paths of the
schema, KEY_CHARS, MAX_VALUES, and the code points that `text_like`'s two regular expressions
match, read off those very expressions (Rust's own Unicode classes differ from Python's `\\w` and
`\\s`). tests/test_native_docs.py holds the two to byte-identical output.

`PLATLOGS_NATIVE=0` forces the Python path; without the module (a checkout installed without
`pip install ./native`) Python is used too.
"""

from __future__ import annotations

import array
import os
import re
import sys
from functools import lru_cache

from ..events.schema import load_schema
from ..query import searchable

try:
    import platlogs_native
except ImportError:  # not built here: the Python path
    platlogs_native = None


def enabled() -> bool:
    return platlogs_native is not None and os.environ.get("PLATLOGS_NATIVE", "1") != "0"


def ranges(pattern: re.Pattern) -> list[tuple[int, int]]:
    """The code points a pattern of one character class (or a run of one) matches, as sorted
    inclusive ranges: the pattern itself run over every code point (about 0.1 s)."""
    every = array.array("I", range(sys.maxunicode + 1)).tobytes().decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")
    runs = re.compile(f"(?:{pattern.pattern})+", pattern.flags)
    return [(m.start(), m.end() - 1) for m in runs.finditer(every)]


@lru_cache(maxsize=1)
def builder():
    """The process's DocumentBuilder, or None when the native path is off or not installed."""
    if not enabled():
        return None
    word, separator = ranges(searchable._WORD), ranges(searchable._SPACE_OR_SLASH)
    # what searchable(event, identifiers=False) does with each kind (its `lists`)
    kinds = {
        searchable._PLAIN: ("keys", "all"),
        searchable._PERSONAL: ("pkeys", "pall"),
        searchable._IDENTIFIER: (None, None),
        searchable._PERSONAL_IDENTIFIER: (None, None),
    }
    identifiers = [list(f.path) for f in load_schema().fields.values() if f.identifier]
    return platlogs_native.DocumentBuilder(
        searchable._tree(),
        kinds,
        searchable._PLAIN,
        searchable._SKIP,
        identifiers,
        searchable.KEY_CHARS,
        searchable.MAX_VALUES,
        word,
        separator,
    )
