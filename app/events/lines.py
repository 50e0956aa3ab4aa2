"""What the normaliser's fast path reads off a raw JSON line itself (app/events/normalize.py):
the line as `Redactor.may_touch` must see it, and the proof that no key is repeated in it.
native/src/scan.rs has the same two in Rust (app/events/native_fast.py)."""

from __future__ import annotations

import re

_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')


def unescaped(line: bytes, escapes_ok: bool) -> bytes | None:
    """For the fast path, a line with backslashes as `may_touch` must see it: when its only
    escapes are \\" \\n \\t \\r \\/ (stack traces, quoted words, escaped slashes), the line with
    them decoded, and each \\" as ' (a value must not show `":`, which reads as a key's end;
    every check treats the two quotes alike). None when another escape could spell
    anything (\\u0034 is a digit, \\u0007 a control character, \\\\ is ambiguous): the full passes;
    and always when not `escapes_ok` (a redaction needle holds a quote, or a pattern has none)."""
    if not escapes_ok:
        return None
    count = line.count
    if count(b"\\") != count(b'\\"') + count(b"\\n") + count(b"\\t") + count(b"\\r") + count(b"\\/"):
        return None  # (each allowed escape holds exactly one backslash, and they cannot overlap)
    return (
        line.replace(b'\\"', b"'").replace(b"\\n", b"\n").replace(b"\\t", b"\t").replace(b"\\r", b"\r").replace(b"\\/", b"/")
    )


def keys_unique(line: bytes, keys: int) -> bool:
    """Whether `keys`, the number of keys of every object parsed from `line`, proves that no key
    is repeated in it: each key of the text ends with `":` (unless spaced before its colon), and
    a value shows `":` only escaped (\\":), so the text's count of `":` is at least the number of
    keys it holds, which exceeds the parsed number by one for every repeat."""
    if line.count(b'":') != keys:
        return False
    return not (
        (b'" ' in line or b'"\t' in line or b'"\n' in line or b'"\r' in line) and _SPACED_COLON.search(line) is not None
    )
