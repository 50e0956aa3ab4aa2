"""PII redaction: card numbers (PAN, Luhn-checked, see pan.py), secret fields by name (also as
`name: value` / `name=value` inside text), configurable patterns (redaction.yaml)."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .pan import RUN, SEPARATORS, blunt, is_pan, luhn_ok, mask, mask_pans, number_pan

__all__ = ["DEFAULT_FILE", "Redactor", "luhn_ok", "snake_name"]

DEFAULT_FILE = Path(__file__).with_name("redaction.yaml")
_GLOB = re.compile(r"\*?[a-z0-9_]+(?:\[0-9\])?\Z")  # what drop_fields may hold (after normalising)

# Field names are compared in snake case: camelCase, kebab-case, UPPER and spaces all agree.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def snake_name(name: str) -> str:
    """userPassword, X-Api-Key, CLIENT_SECRET, ｐａｓｓｗｏｒｄ -> user_password, x_api_key, ..."""  # noqa: RUF002 (fullwidth on purpose)
    if not name.isascii():
        name = "".join(c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c) != "Cf")
    return _NOT_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


# For scanning raw JSON lines: ASCII digits, and the first byte of every other character (it may
# be a digit or a separator), become "0"; ASCII card-number separators and the other bytes of a
# multi-byte character vanish. Thirteen zeros in a row is then a superset of a card number.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789" + bytes(range(0xC0, 0x100)), b"0" * (9 + 0x40))
_ASCII_SEPARATORS = (
    bytes(c for c in SEPARATORS.encode("latin-1", "ignore") if c < 128)
    + b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f%"
    + bytes(range(0x80, 0xC0))
)  # + ASCII \s, %20
_THIRTEEN_DIGITS = b"0" * 13
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_ASSIGN_SEP = re.compile(r"""["']?[ \t]*(?:=>|[:=])[ \t]*""")
_SCHEME = re.compile(r"(?i)(?:basic|bearer|digest|negotiate|ntlm|token|apikey)\s+")
_EQ_VALUE = re.compile(r"""[^\s&,;"'<>]+""")
_COLON_VALUE = re.compile(r"""[^,;|\r\n}\]"']+""")
_SEPS: dict[type, tuple[Any, Any]] = {bytes: (b":", b"="), str: (":", "=")}
_GAP: dict[type, Any] = {bytes: b" \t'\"", str: " \t'\""}
_DIGITS: dict[type, Any] = {bytes: b"0123456789", str: "0123456789"}
_QUOTED = {'"': re.compile(r'"((?:[^"\\]|\\.)*)"'), "'": re.compile(r"'([^']*)'")}


@dataclass
class Redactor:
    drop: re.Pattern
    patterns: list[tuple[re.Pattern, str]]
    needles: tuple[bytes, ...]  # lower-case byte strings, one of which a pattern's match contains
    unguarded: list[re.Pattern]  # patterns without a needle: searched on the line itself
    assign: re.Pattern = re.compile(r"(?!)")  # the end of a secret name, in text (`password: x`)
    tails: tuple[str, ...] = ()  # every spelling of those ends, lower case (for may_touch)
    pattern_needles: tuple[str | None, ...] = ()  # per pattern, its needle (lower case) or None
    _drops: dict = field(default_factory=dict)

    def _may_assign(self, lowered, tails: tuple, ends: frozenset) -> bool:
        """Whether lower-cased text (bytes of a raw JSON line, or a str value) could hold
        `secret-name: value`: one look behind each `:` or `=` (in a raw line, not those ending a
        JSON key: a value cannot hold an unescaped `"`, and keys are judged on their own).
        A superset of `assign` followed by `drops`."""
        kind = type(lowered)
        if kind is bytes:
            if (
                lowered.startswith(b'{"@timestamp":"')
                and lowered[38:40] == b'z"'
                and not lowered[15:38].translate(None, b"0123456789-:.t")
            ):
                lowered = lowered[40:]  # the usual first field, a canonical time: its colons are not text
            lowered = lowered.replace(b'":', b'"')
        gap, digits, reach = _GAP[kind], _DIGITS[kind], self._reach
        for sep in _SEPS[kind]:
            pos = lowered.find(sep)
            while pos >= 0:
                start = max(0, pos - reach)
                window = lowered[start:pos].rstrip(gap).rstrip(digits)
                if (window[-3:] in ends and window.endswith(tails)) or (start and len(window) < reach - 16):
                    return True  # (a long run of digits or spaces before it: say yes, the safe way)
                pos = lowered.find(sep, pos + 1)
        return False

    def may_touch(self, line: bytes) -> bool:
        """Whether a string value of a raw JSON line without escapes could be changed (card
        numbers, `secret: value` text, patterns). Secret keys are judged separately, key by key,
        and numbers written with an exponent by the fast path. Cheap, and never wrong in the
        unsafe direction: False means provably nothing to change."""
        lowered = line.lower()
        if any(map(lowered.__contains__, self.needles)):
            return True
        ascii_only = line.isascii()
        if _THIRTEEN_DIGITS in line.translate(_DIGITS_TO_ZERO, _ASCII_SEPARATORS) and (
            ascii_only or RUN.search(line.decode("utf-8", "replace"))
        ):
            return True
        if self._may_assign(lowered, *self._tails_bytes):
            return True
        if self.unguarded:
            text = line.decode("utf-8", "replace")
            return any(p.search(text) for p in self.unguarded)
        return False

    @classmethod
    def from_file(cls, path: Path | None = None) -> Redactor:
        path = path or DEFAULT_FILE
        spec = yaml.safe_load(path.read_text()) or {}
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: expected a mapping with drop_fields and patterns")
        globs, tails, spellings = [], set(), set()
        for i, item in enumerate(spec.get("drop_fields") or []):
            glob = re.sub(r" |-(?!9\])", "_", item.lower()) if isinstance(item, str) else ""
            if not _GLOB.match(glob):
                raise ValueError(
                    f"{path}: drop_fields[{i}] {item!r}: expected a field name, optionally "
                    "with a leading * and a trailing [0-9]"
                )
            globs.append(glob)
            tail = glob.lstrip("*_").removesuffix("[0-9]")
            tails.add(r"[_ -]?".join(re.escape(part) for part in tail.split("_")))
            spellings.update(_spellings(tail.split("_")))
        drop = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs) or r"(?!)")
        alternation = "|".join(sorted(tails, key=len, reverse=True)) or "(?!)"
        assign_body = rf"(?:{alternation})[0-9]*(?={_ASSIGN_SEP.pattern})"
        assign = re.compile(assign_body, re.IGNORECASE | re.ASCII)  # names in text are ASCII

        patterns, needles, unguarded = [], set(), []
        pattern_needles: list[str | None] = []
        for i, item in enumerate(spec.get("patterns") or []):
            where = f"{path}: patterns[{i}]" + (f" ({item.get('name')})" if isinstance(item, dict) else "")
            if not isinstance(item, dict) or not isinstance(item.get("regex"), str):
                raise ValueError(f"{where}: expected a mapping with a string `regex`")
            try:
                pattern = re.compile(item["regex"])
            except re.error as exc:
                raise ValueError(f"{where}: regex: {exc}") from exc
            replace = item.get("replace", "[REDACTED]")
            if not isinstance(replace, str):
                raise ValueError(f"{where}: replace: expected a string")
            patterns.append((pattern, replace))
            if item.get("needle"):
                needles.add(str(item["needle"]).lower().encode())
                pattern_needles.append(str(item["needle"]).lower())
            else:
                unguarded.append(pattern)
                pattern_needles.append(None)
        return cls(
            drop=drop,
            patterns=patterns,
            needles=tuple(sorted(needles)),
            unguarded=unguarded,
            assign=assign,
            tails=tuple(sorted(spellings)),
            pattern_needles=tuple(pattern_needles),
        )

    @property
    def _tails_bytes(self) -> tuple[tuple[bytes, ...], frozenset]:
        cached = self.__dict__.get("_tails_b")
        if cached is None:
            tails = tuple(t.encode() for t in self.tails)
            ends = frozenset(t[-3:] for t in tails) | frozenset(t[-3:] for t in self.tails)  # bytes and str
            cached = self.__dict__["_tails_b"] = (tails, ends)
        return cached

    @property
    def _reach(self) -> int:
        """How far before a `:` or `=` a secret name can start (its longest spelling, and room)."""
        cached = self.__dict__.get("_reach_n")
        if cached is None:
            cached = self.__dict__["_reach_n"] = max(map(len, self.tails), default=0) + 16
        return cached

    def drops(self, key: str) -> bool:
        """Whether a field of this name (the last part of its path) holds a secret."""
        verdict = self._drops.get(key)
        if verdict is None:
            if len(self._drops) > 50_000:  # bounded: hostile clients can invent keys
                self._drops.clear()
            verdict = self._drops[key] = self.drop.match(snake_name(key)) is not None
        return verdict

    def scrub(self, value: str) -> tuple[str, int]:
        """The value with PANs masked, secrets after secret names (`password: x`, `token=x`)
        and pattern matches replaced, and how many replacements were made."""
        new, count = value, 0
        if len(value) >= 13 and (
            RUN.search(value)
            if not value.isascii()
            else _THIRTEEN_DIGITS in value.encode().translate(_DIGITS_TO_ZERO, _ASCII_SEPARATORS)
        ):
            new, count = mask_pans(value)
        if ("=" in new or ":" in new) and self._may_assign(new.lower(), self.tails, self._tails_bytes[1]):
            new, n = self._assignments(new)
            count += n
        lowered = None
        for (pattern, replacement), needle in zip(self.patterns, self.pattern_needles, strict=True):
            if needle is not None:
                if lowered is None:
                    lowered = new.lower()
                if needle not in lowered:
                    continue
            new, n = pattern.subn(replacement, new)
            count += n
        return new, count

    def _assignments(self, text: str) -> tuple[str, int]:
        """`name: value`, `name=value`, `"name": "value"` with a secret name: the value replaced."""
        out, pos, count = [], 0, 0
        for match in self.assign.finditer(text):
            if match.start() < pos:
                continue
            start = match.start()
            while start > 0 and text[start - 1] in _KEY_CHARS:
                start -= 1
            name = text[start : match.end()].rsplit(".", 1)[-1]
            if not self.drops(name):
                continue
            sep = _ASSIGN_SEP.match(text, match.end())
            assert sep is not None  # (`assign` matched only before this separator: its lookahead)
            begin = sep.end()
            if begin < len(text) and text[begin] in _QUOTED:
                value = _QUOTED[text[begin]].match(text, begin)
                if value is None:  # an unclosed quote: the rest is the secret
                    begin, end = begin + 1, len(text)
                else:
                    begin, end = value.start(1), value.end(1)
            else:
                colon = ":" in sep.group(0)
                scheme = _SCHEME.match(text, begin)  # Authorization: Basic [REDACTED]
                if scheme:
                    begin = scheme.end()
                value = (_COLON_VALUE if colon else _EQ_VALUE).match(text, begin)
                if value is None:
                    continue
                end = len(text[: value.end()].rstrip())
            if end <= begin:
                continue
            out.append(text[pos:begin])
            out.append("[REDACTED]")
            pos = end
            count += 1
        if not count:
            return text, 0
        out.append(text[pos:])
        return "".join(out), count

    # -- numbers ---------------------------------------------------------------------------

    @staticmethod
    def scrub_number(value: int | float) -> str | None:
        """A masked string when an int or float is a card number, else None."""
        digits = number_pan(value)
        return None if digits is None else mask(digits)

    @staticmethod
    def blunt_number(value: int | float) -> int | float | None:
        """For a numeric schema field: the number cut so that it no longer holds a card number
        (see pan.blunt), or None when it holds none."""
        return None if number_pan(value) is None else blunt(value)


def _spellings(parts: list[str]) -> set[str]:
    """api, key -> apikey, api_key, api-key, api key (every way the parts can be joined)."""
    if len(parts) == 1:
        return {parts[0]}
    return {parts[0] + sep + rest for sep in ("", "_", "-", " ") for rest in _spellings(parts[1:])}


# kept importable from here: older callers and tests use them
__all__ += ["is_pan", "mask_pans"]
