"""Telling the items of a JSON body apart when the body as a whole cannot be taken as parsed,
and finding repeated keys that JSON parsers silently resolve (the last one wins).

- `split_array`: the items of a top-level JSON array as raw bytes, found without recursion
  (strings, brackets and commas matched in C by one regular expression; runs of brackets are
  handled as byte strings). An item that is malformed inside balanced brackets, too deep or too
  big is refused on its own; a body whose brackets or strings stop adding up keeps the items
  before that point and reports the rest as one error.
- `duplicate_key`: the cheap test runs on every item: the number of `"…":` key ends in the
  sender's bytes against their number in orjson's re-serialisation of what it parsed. They are
  equal unless a key was repeated (or the bytes use rare spellings: whitespace before a colon,
  `\\u0022`-style escapes), and only then is the item parsed again, slowly, to name the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import orjson

from ..events import refusals
from ..events.normalize import EventError
from .ndjson import oversized

MAX_SCAN_DEPTH = 200  # deeper items are refused before any parser recurses into them (orjson: 254)

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[{]+|[\]}]+|,')
_CLOSE = bytes.maketrans(b"[{", b"]}")
_KEY_END = b'":'
_RARE = re.compile(rb'"[ \t\r\n]+:|\\u00(?:2[02]|3[aA])')


def split_array(body: bytes, max_bytes: int, max_depth: int) -> Iterator[tuple[int, bytes | EventError]]:
    """(index, item bytes or the reason it is refused) for each item of the array `body`."""
    stack = bytearray()  # the open brackets; stack[0] is the array's own
    index, item_start, item_depth = 0, -1, 0
    for match in _TOKEN.finditer(body):
        token, pos = match.group(), match.start()
        if not stack:
            if body[:pos].strip() or token[0] != 0x5B:
                break
            stack.append(0x5B)
            item_start, token = pos + 1, token[1:]
            if not token:
                continue
        first = token[0]
        if first == 0x22:  # a string
            if len(token) == 1:
                yield index, _hopeless(pos, "a string that does not end")
                return
        elif first == 0x2C:  # ,
            if len(stack) == 1:
                yield index, _item(body[item_start:pos], item_depth, max_bytes, max_depth)
                index, item_start, item_depth = index + 1, pos + 1, 0
        elif first in (0x5B, 0x7B):  # a run of [ and {
            stack += token
            item_depth = max(item_depth, len(stack) - 1)
        else:  # a run of ] and }: each closes its own
            n = len(token)
            if n > len(stack) or bytes(stack[-n:][::-1]).translate(_CLOSE) != token:
                yield index, _hopeless(pos, "brackets that do not match")
                return
            del stack[-n:]
            if not stack:  # the array's end
                last = body[item_start : match.end() - 1]
                if last.strip() or index:
                    yield index, _item(last, item_depth, max_bytes, max_depth)
                if body[match.end() :].strip():
                    yield index + 1, _hopeless(match.end(), "more after the array's end")
                return
    if stack:
        yield index, _hopeless(len(body), "the body ends inside the array")
    else:
        yield 0, EventError("malformed JSON: the body is neither an object nor an array of objects", kind=refusals.BAD_JSON)


def _item(raw: bytes, depth: int, max_bytes: int, max_depth: int) -> bytes | EventError:
    if depth > MAX_SCAN_DEPTH:
        return EventError(f"nested deeper than {max_depth} levels", kind=refusals.LIMITS)
    if len(raw) > max_bytes:
        return oversized(len(raw.strip()), max_bytes)
    return (
        raw
        if raw.strip()
        else EventError("malformed JSON: an empty item (two commas, or one before ']')", kind=refusals.BAD_JSON)
    )


def _hopeless(pos: int, what: str) -> EventError:
    return EventError(
        f"malformed JSON at byte {pos}: {what}; the items from here on cannot be told apart", kind=refusals.BAD_JSON
    )


def may_repeat_keys(raw: bytes, parsed: object) -> bool:
    """False when `raw` (which orjson parsed as `parsed`) certainly repeats no key in any
    object; True when it may (or is too deep to re-serialise). C-speed counts only."""
    try:
        again = orjson.dumps(parsed)
    except orjson.JSONEncodeError:
        return True
    if raw.count(_KEY_END) != again.count(_KEY_END):
        return True
    # rare spellings that could hide a repeat from the counts (memchr-speed tests first)
    return (b"\\u00" in raw or b'" ' in raw or b'"\t' in raw or b'"\n' in raw or b'"\r' in raw) and _RARE.search(
        raw
    ) is not None


def duplicate_key(raw: bytes, parsed: object) -> str | None:
    """The path of a key given twice in one object of `raw`, or None. Cheap unless it may."""
    return _find_duplicate(raw) if may_repeat_keys(raw, parsed) else None


class _Pairs(dict):
    repeated: str | None = None


def _pairs(pairs: list) -> dict:
    out = _Pairs(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                out.repeated = k
                break
            seen.add(k)
    return out


def _find_duplicate(raw: bytes) -> str | None:
    try:
        tree = json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None
    todo: list[tuple[object, str]] = [(tree, "")]
    while todo:
        node, path = todo.pop()
        if isinstance(node, _Pairs):
            if node.repeated is not None:
                return path + node.repeated
            todo.extend((v, f"{path}{k}.") for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            todo.extend((v, f"{path}{i}.") for i, v in reversed(list(enumerate(node))))
    return None


def refuse_duplicates(raw: bytes, parsed: object) -> None:
    key = duplicate_key(raw, parsed)
    if key is not None:
        raise EventError(
            f"key {key!r} given twice in one object (a JSON parser keeps only the last)", key, refusals.REPEATED_KEY
        )
