"""Error fingerprints: which stored errors are "the same error" (one error group).

Pure: `fingerprint(event, rules)` -> Fingerprint(value, title, rule) or None for an event that is
no error. As Sentry groups (exception type + in-app frames, the message as a template), with the
three parts the issue names:

- the error's type (`error.type`);
- its message as a template: numbers, ids, hex, UUIDs, e-mail addresses, IPs, URLs, dates and
  quoted values replaced by placeholders (`timeout after 5012 ms for round 83731` ->
  `timeout after <num> ms for round <num>`), so messages that differ only in their values meet;
- the top in-app frames of `error.stack_trace` (Python, Java/Kotlin and JavaScript traces): the
  innermost FRAMES frames whose file is the application's (not site-packages, the JDK, node_modules…),
  each as file (its last two path parts) and function — never line numbers, which move with
  every deploy. A trace with no in-app frame uses its innermost frames as they are.

The value is the BLAKE2b digest (32 hex digits) of those parts (numbers, ids and hex alike as one
kind of value: a random id is sometimes all digits); the title, `type: template`,
names the group on the pages. Custom rules (app/events/fingerprints.yaml, fingerprint_rules.py)
may replace the value for the errors they match, with parts of their own (`{default}` keeps the
computed one) and a title of their own.

Which events are errors: those with an `error` object holding a type, message or stack trace,
and those of the `error` component (their `message` is used).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FRAMES = 3  # in-app frames in a fingerprint
MAX_MESSAGE = 2_000  # characters of a message templated (the rest is cut off first)
MAX_TRACE = 50_000  # characters of a stack trace read for frames
CACHED_TRACE = 8_000  # traces up to this long are remembered (the same recur)
MAX_TITLE = 200
SEPARATOR = "\x1f"

# -- the message template -----------------------------------------------------------------

_HEX = "0-9a-fA-F"
# (pattern, placeholder, what the text must contain for the pattern to be tried at all)
_SUBSTITUTIONS: tuple[tuple[re.Pattern, str, tuple[str, ...]], ...] = tuple(
    (re.compile(p), r, n)
    for p, r, n in (
        (r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s'\"<>`]+", "<url>", ("://",)),
        (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>", ("@",)),
        (rf"\b[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}\b", "<uuid>", ("-",)),
        (r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b", "<date>", ("-",)),
        (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])", "<ip>", (".",)),
        (rf"\b0[xX][{_HEX}]+\b", "<hex>", ("0x", "0X")),
        (rf"\b(?=[{_HEX}]*\d)(?=[{_HEX}]*[a-fA-F])[{_HEX}]{{6,}}\b", "<hex>", ()),  # digests, hex ids (e12345)
        (r"(?<![\w'])'[^'\n]{0,200}'(?![\w'])", "<str>", ("'",)),
        (r'(?<![\w"])"[^"\n]{0,200}"(?![\w"])', "<str>", ('"',)),
        (r"`[^`\n]{0,200}`", "<str>", ("`",)),
    )
)
_IPV6 = re.compile(rf"(?<![\w:])[{_HEX}:]*::?[{_HEX}:]*(?![\w:])")
# a word whose letters and digits alternate more than once (a58a3f9c, Ab3xYz9Q): a generated id
_MIXED = re.compile(r"\b(?=[A-Za-z0-9]*(?:[A-Za-z]\d+[A-Za-z]|\d[A-Za-z]+\d))[A-Za-z0-9]+\b")
_NUMBER = re.compile(r"(?:(?<![\w.])[-+])?\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")
_VALUE = re.compile(r"<(?:num|id|hex)>")


def _ipv6(match: re.Match) -> str:
    text = match.group()
    if text.count(":") >= 2 and sum(c.isdigit() for c in text) and ("::" in text or text.count(":") == 7) and len(text) >= 3:
        return "<ip>"
    return text


def template(message: str) -> str:
    """`message` with its values replaced by placeholders: what messages of one kind share."""
    return _template(message[:MAX_MESSAGE])


@lru_cache(maxsize=4096)  # the same messages recur (at most MAX_MESSAGE characters each are kept)
def _template(text: str) -> str:
    for pattern, placeholder, needles in _SUBSTITUTIONS:
        if not needles or any(n in text for n in needles):
            text = pattern.sub(placeholder, text)
    if ":" in text:
        text = _IPV6.sub(_ipv6, text)
    text = _MIXED.sub("<id>", text)
    text = _NUMBER.sub("<num>", text)
    return _SPACE.sub(" ", text).strip()


# -- frames -------------------------------------------------------------------------------

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"\n]{1,500})", line \d+, in (?P<fn>[^\s\n]{1,200})', re.M)
_JAVA_FRAME = re.compile(r"^\s*at (?P<fn>[\w$.<>/-]{1,300})\((?P<file>[^()\n]{0,300})\)", re.M)
_JS_FRAME = re.compile(r"^\s*at (?:(?P<fn>[^\s()]{1,300}) \()?(?P<file>[^\s()]{1,500}?):\d+:\d+\)?\s*$", re.M)
_PY_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "\\lib\\python", "<frozen", "<string>")
_JAVA_LIBRARY = (
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "org.springframework.",
    "org.apache.",
    "org.hibernate.",
    "io.netty.",
    "reactor.",
    "com.fasterxml.",
    "io.micronaut.",
    "io.quarkus.",
    "org.junit.",
)
_JS_LIBRARY = ("node_modules", "node:", "internal/", "<anonymous>")
_GENERATED = re.compile(r"\$\$Lambda[\w$/]*|\$\d+|\$[0-9a-f]{6,}|@[0-9a-f]{4,}|/0x[0-9a-f]+")


@dataclass(frozen=True)
class Frame:
    file: str
    function: str
    in_app: bool

    def text(self) -> str:
        return f"{self.file}:{self.function}"


def _short_path(path: str) -> str:
    parts = [p for p in re.split(r"[/\\]", path) if p]
    return "/".join(parts[-2:])


def frames(trace: str) -> list[Frame]:
    """The frames of a stack trace, innermost first."""
    trace = trace[:MAX_TRACE]
    found = [
        Frame(_short_path(m["file"]), m["fn"], not any(s in m["file"] for s in _PY_LIBRARY))
        for m in _PY_FRAME.finditer(trace)
    ]
    if found:
        return found[::-1]  # Python prints the innermost frame last
    for m in _JAVA_FRAME.finditer(trace):
        qualified = _GENERATED.sub("", m["fn"])
        owner, _, function = qualified.rpartition(".")
        found.append(Frame(owner, function or qualified, not qualified.startswith(_JAVA_LIBRARY)))
    if found:
        return found
    for m in _JS_FRAME.finditer(trace):
        file = m["file"]
        found.append(Frame(_short_path(file.split("?")[0]), m["fn"] or "?", not any(s in file for s in _JS_LIBRARY)))
    return found


def top_frames(trace: str, count: int = FRAMES) -> tuple[Frame, ...]:
    """The innermost `count` in-app frames; the innermost frames when none is in-app."""
    return _top_frames_cached(trace, count) if len(trace) <= CACHED_TRACE else _top_frames(trace, count)


@lru_cache(maxsize=2048)  # a trace recurs as often as its error
def _top_frames_cached(trace: str, count: int) -> tuple[Frame, ...]:
    return _top_frames(trace, count)


def _top_frames(trace: str, count: int) -> tuple[Frame, ...]:
    every = frames(trace)
    mine = [f for f in every if f.in_app]
    return tuple((mine or every)[:count])


# -- the fingerprint ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    value: str  # 32 hex digits
    title: str  # `type: template`, at most MAX_TITLE characters
    rule: str | None = None  # the custom rule that set it, if one did


def _text(event: dict, *path: str) -> str:
    node: Any = event
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str) else ""


def is_error(event: dict) -> bool:
    error = event.get("error")
    if isinstance(error, dict) and any(
        isinstance(error.get(k), str) and error[k] for k in ("type", "message", "stack_trace")
    ):
        return True
    meta = event.get("event")
    return isinstance(meta, dict) and meta.get("component") == "error"


def parts(event: dict) -> tuple[str, str, tuple[Frame, ...]]:
    """(type, message template, top in-app frames) of an error event."""
    type_ = _text(event, "error", "type").strip()
    message = _text(event, "error", "message") or _text(event, "message")
    if type_ and message.startswith(type_ + ":"):  # `message` often repeats the type
        message = message[len(type_) + 1 :]
    return type_, template(message), top_frames(_text(event, "error", "stack_trace"))


def digest(pieces: Iterable[str]) -> str:
    return hashlib.blake2b(SEPARATOR.join(pieces).encode("utf-8", "replace"), digest_size=16).hexdigest()


def title_of(type_: str, message: str) -> str:
    title = f"{type_}: {message}" if type_ and message else type_ or message or "(no message)"
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def default_fingerprint(event: dict) -> Fingerprint:
    type_, message, top = parts(event)
    # a generated id is a number, a hex string or a mix by chance (tx-1234567890, tx-e12345,
    # tx-a58a3f9c): one kind of value in the fingerprint, told apart only in the title
    hashed = _VALUE.sub("<v>", message)
    return Fingerprint(digest(["v1", type_, hashed, *(f.text() for f in top)]), title_of(type_, message))


def fingerprint(event: dict, rules: Iterable = ()) -> Fingerprint | None:
    """The event's fingerprint, or None when it is no error. `rules`: custom rules
    (fingerprint_rules.Rule), the first that matches decides."""
    if not is_error(event):
        return None
    computed = default_fingerprint(event)
    for rule in rules:
        if rule.matches(event):
            return rule.apply(event, computed)
    return computed
