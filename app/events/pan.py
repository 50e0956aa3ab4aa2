"""Card numbers (PAN): found in text of any spelling and in numbers of any JSON type, then masked.

A PAN is 13-19 digits that start like a card (2-6: every scheme; epoch-ms timestamps start
with 1 until 2033) and pass the Luhn check. In text the digits may be any Unicode digit
(ASCII, fullwidth, Arabic-Indic, superscript, circled, ...) and groups of digits may be
separated by up to three separator characters (spaces of any kind including NBSP, dashes,
dots, commas, slashes, underscores, plus signs, zero-width characters, URL-encoded `%20`). A PAN is never glued to other
digits; the groups of a longer run are tried span by span, so "4111 1111 1111 1111 2026" and
"4111111111111111.0" are found too. A span whose only separator is one "." or "," is a
decimal number ("2.3456789012345678"), and IPv4 addresses and ISO dates are never part of one
(lists of addresses, "203.0.113.9, 198.51.100.7", are common in X-Forwarded-For; without this
rule about half of such lists lost digits).

A card number written as one unbroken group of digits that is glued to an identifier is part
of that identifier, not a card (HDFS `blk_-6952295868487656571`, hex ids `5f3a9c4111111111111111`,
`req_4111111111111111`, `4111111111111111abc`): about 1 in 20 random 16-19 digit ids passes
the checks above, so without this rule 6 % of a real HDFS sample was rewritten. Glued means:
  before the group: a letter or `_`; or a `-` that itself follows `_` or a digit (`blk_-…`,
    `job_7-…`); a `-` after a letter is a separator (`evt-4744…`, `order-4111…` hold a card,
    as an id built from a card number would), and after a space or at the start a minus sign;
  after the group: a letter or `_` (`4111111111111111abc`; a `-` after it is a separator).
Only a single unbroken group can be glued: a card written in groups (`4111-1111-1111-1111`,
`4111 1111 1111 1111`, `x4111 1111 1111 1111`) is a card wherever it stands, and so is a
group after `=`, `:`, `/`, a space, a quote or a bracket (`pan=4111111111111111`, `/cards/4111…`).
Numbers (JSON ints and floats) are never identifiers (number_pan).
"""

from __future__ import annotations

import math
import re
import unicodedata

# Characters with a digit value that \d (Unicode Nd) does not cover: superscripts, circled, ...
_EXTRA_DIGITS = "".join(
    chr(c) for c in range(0x80, 0x10000) if not chr(c).isdecimal() and unicodedata.digit(chr(c), None) is not None
)
_D = rf"[\d{re.escape(_EXTRA_DIGITS)}]"
SEPARATORS = (
    "-.,/\\_+\u00ad\u00b7\u2010\u2011\u2012\u2013\u2014\u2015\u2022\u2024\u2027\u2212\u2219"
    "\u200b\u200c\u200d\u2060\ufeff\u3002\u30fb\ufe58\ufe63\uff0c\uff0d\uff0e\uff0f\uff3f\uff61"
)
_SEP = rf"(?:[\s{re.escape(SEPARATORS)}]|%20)"  # %20: a URL-encoded space
# A run of at least 13 digits with at most three separator characters between two digits.
RUN = re.compile(rf"(?<!%)(?<!%2){_D}(?:{_SEP}{{0,3}}{_D}){{12,}}")  # (not starting inside a %20)
_GROUP = re.compile(rf"%20|({_D}+)")  # a digit group (group 1), never the digits of a %20
_DECIMAL_POINT = (".", ",")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Never part of a card: an IPv4 address (exactly four dotted groups: lists of addresses such as
# "203.0.113.9, 198.51.100.7" are common) and an ISO date ("2026-11-20/2026-11-27").
_NOT_CARD = re.compile(
    rf"(?<![0-9])(?<![0-9]\.){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9])(?!\.[0-9])"
    r"|(?<![0-9])(?:19|20)[0-9][0-9]-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])(?![0-9])"
)


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


def is_pan(digits: str) -> bool:
    """Whether ASCII digits are a card number."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def mask(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _ascii(group: str) -> str:
    return group if group.isascii() else "".join(str(unicodedata.digit(c)) for c in group)


def _word(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _glued(text: str, start: int, end: int) -> bool:
    """Whether the unbroken digit group text[start:end] is part of a larger identifier (see the
    module's docstring)."""
    if start:
        before = text[start - 1]
        if _word(before) or (before == "-" and start >= 2 and (text[start - 2] == "_" or text[start - 2].isdigit())):
            return True
    return end < len(text) and _word(text[end])


def _mask_run(match: re.Match, counter: list) -> str:
    text = match.group(0)
    groups = [(g.start(1), g.end(1), _ascii(g.group(1))) for g in _GROUP.finditer(text) if g.group(1)]
    addresses = [m.span() for m in _NOT_CARD.finditer(text)] if ("." in text or "-" in text) else []
    out, pos, i = [], 0, 0
    while i < len(groups):
        found = None
        if addresses and any(a <= groups[i][0] < b for a, b in addresses):
            pass  # part of an IPv4 address or a date: no card starts here
        elif groups[i][2][0] in "23456":
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > 19 or (addresses and any(a <= groups[j][0] < b for a, b in addresses)):
                    break
                if len(digits) >= 13 and luhn_ok(digits):
                    between = text[groups[i][1] : groups[j][0]]
                    if not (j == i + 1 and between in _DECIMAL_POINT) and not (
                        j == i and _glued(match.string, match.start() + groups[i][0], match.start() + groups[i][1])
                    ):
                        found = (j, digits)
        if found is None:
            i += 1
            continue
        j, digits = found
        out.append(text[pos : groups[i][0]])
        out.append(mask(digits))
        pos, i = groups[j][1], j + 1
        counter[0] += 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def mask_pans(text: str) -> tuple[str, int]:
    """The text with every card number masked (first six and last four digits kept), and how many."""
    counter = [0]
    new = RUN.sub(lambda m: _mask_run(m, counter), text)
    return new, counter[0]


def number_pan(value: int | float) -> str | None:
    """The card number (ASCII digits) an int or float shows — its integral part, or the digits of
    its written form (4.111111111111111e+18) — else None."""
    if type(value) is float:
        if not math.isfinite(value) or -1e12 < value < 1e12:
            return None
        if abs(value) >= 1e16:  # written with an exponent: look at the written digits
            text = repr(value)
            if mask_pans(text)[1]:
                return "".join(ch for ch in text.split("e")[0] if ch.isdigit())
        value = int(value)
    if -(10**12) < value < 10**12:
        return None
    digits = str(abs(value))
    return digits if is_pan(digits) else None


def blunt(value: int | float) -> int | float:
    """A number in a numeric field that is a card number, cut to its first six significant digits
    (the part a masked card shows anyway; a relative change under 1e-5) and never itself Luhn-valid."""
    sign = -1 if value < 0 else 1
    whole = abs(int(value))
    step = 10 ** (len(str(whole)) - 6)
    cut = whole - whole % step
    if luhn_ok(str(cut)):
        cut += step // 10  # one changed digit always breaks the Luhn check (exact as a float too)
    return sign * (float(cut) if type(value) is float else cut)
