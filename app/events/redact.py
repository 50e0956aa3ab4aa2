"""PII redaction: card numbers (PAN, Luhn-checked), secret fields by name, configurable patterns."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("redaction.yaml")

# A candidate PAN: 13-19 digits, optionally separated by single spaces or dashes, not glued to
# other digits. Starting digit 2-6 covers every card scheme and spares epoch-ms timestamps (1…).
_PAN = re.compile(r"(?<!\d)[2-6](?:[ -]?\d){12,18}(?!\d)")
_GLOBAL_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_pan(match: re.Match) -> str:
    raw = match.group(0)
    digits = raw.replace(" ", "").replace("-", "")
    if not luhn_ok(digits):
        return raw
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


# For scanning raw JSON lines: digits become "0"; spaces and dashes (PAN separators) vanish.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_THIRTEEN_DIGITS = b"0" * 13


@dataclass
class Redactor:
    drop: re.Pattern
    patterns: list[tuple[re.Pattern, str]]
    prefilter: re.Pattern  # one search tells whether a string needs any work
    needles: tuple[bytes, ...]  # lower-case byte strings, one of which a pattern's match contains
    unguarded: list[re.Pattern]  # patterns without a needle: searched on the line itself

    def may_touch(self, line: bytes) -> bool:
        """Whether a string value of a raw JSON line without escapes could be changed (card
        numbers, patterns). Secret keys are judged separately, key by key. Cheap, and never
        wrong in the unsafe direction: False means provably nothing to change."""
        lowered = line.lower()
        for needle in self.needles:
            if needle in lowered:
                return True
        if _THIRTEEN_DIGITS in line.translate(_DIGITS_TO_ZERO, b" -"):
            return True
        if self.unguarded:
            text = line.decode("utf-8", "replace")
            return any(p.search(text) for p in self.unguarded)
        return False

    @classmethod
    def from_file(cls, path: Path | None = None) -> "Redactor":
        spec = yaml.safe_load((path or DEFAULT_FILE).read_text()) or {}
        globs = [g.lower().replace("-", "_") for g in spec.get("drop_fields", [])]
        drop = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs) or r"(?!)")
        patterns, needles, unguarded = [], set(), []
        for item in spec.get("patterns", []):
            try:
                pattern = re.compile(item["regex"])
            except (re.error, KeyError, TypeError) as exc:
                raise ValueError(f"redaction patterns: {item!r}: {exc}") from exc
            patterns.append((pattern, item.get("replace", "[REDACTED]")))
            if item.get("needle"):
                needles.add(str(item["needle"]).lower().encode())
            else:
                unguarded.append(pattern)
        # A looser union (case-insensitive, leading inline flags lifted) is fine as a prefilter:
        # a false positive only costs the exact pass below.
        loose = [_GLOBAL_FLAGS.sub("", p.pattern) for p, _ in patterns]
        prefilter = re.compile("|".join(f"(?:{p})" for p in [_PAN.pattern, *loose]), re.IGNORECASE)
        return cls(drop=drop, patterns=patterns, prefilter=prefilter, needles=tuple(sorted(needles)),
                   unguarded=unguarded)

    def drops(self, key: str) -> bool:
        return self.drop.match(key.lower().replace("-", "_")) is not None

    def scrub(self, value: str) -> tuple[str, int]:
        """The value with PANs masked and patterns replaced, and how many replacements were made."""
        if self.prefilter.search(value) is None:
            return value, 0
        count = 0
        new = _PAN.sub(_mask_pan, value)
        if new != value:
            count += 1
        for pattern, replacement in self.patterns:
            new, n = pattern.subn(replacement, new)
            count += n
        return new, count

    @staticmethod
    def scrub_number(value: int) -> str | None:
        """A masked string when an integer is a card number, else None."""
        if 10**12 <= value < 10**19:
            digits = str(value)
            if digits[0] in "23456" and luhn_ok(digits):
                return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
        return None
