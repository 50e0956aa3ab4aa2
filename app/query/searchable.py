"""What a bare term finds: every value an event holds, sorted once into four kinds, so that both
backends index the same things and a pasted value finds the same events on each.

A support agent pastes what a player sent: an e-mail, a name, an IP, a transaction id in
capitals, a provider's reference, a reason. Each string value of an event (and each whole
number) is sorted by its field (app/events/schema.yaml):

  keys     whole values, compared in lower case with accents folded: `TX-A58A…` finds
           `tx-a58a…`, `Ozturk` finds `Öztürk`. Every value up to KEY_CHARS characters.
  words    the words of text-like values — several words with a space or a slash between
           (`Pixel 8` inside a user agent, a name, `POST /api/v2/wallet/debit`, a URL path) —
           for words and phrases inside longer values. Code-like values (`idle_timeout`,
           `provider_request`, `wallet-service`, `java.net.SocketTimeoutException`) are found
           whole, and never the words of an identifier (`identifier: true` in the schema: ids,
           e-mails, IPs, references), so `tx` or `example` does not find every transaction id
           or e-mail address.
  …and each of the two again for personal fields (`personal: true`): `personal_keys`,
  `personal_words`. A reader who sees personal data masked finds events by a personal value's
  whole exact value only, never by a word or a prefix of it (app/web/reading.py).

The full-text fields (message, error.message, error.stack_trace) and event.id are indexed on
their own by each backend and are not repeated here; @timestamp and other times, fractional
numbers and booleans are not pasted values and stay out.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..events.schema import load_schema

KEY_CHARS = 256          # longer values are found by their words only
MAX_VALUES = 2000        # values of one event taken into the catch-all (events are bounded anyway)
OWN_FIELDS = frozenset({("message",), ("error", "message"), ("error", "stack_trace"), ("event", "id"),
                        ("@timestamp",)})
_WORD = re.compile(r"[^\W_]+")     # a run of letters and digits, as the analyzers split words
_SPACE_OR_SLASH = re.compile(r"[\s/\\]")


@dataclass
class Searchable:
    keys: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    personal_keys: list[str] = field(default_factory=list)
    personal_words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Kind:
    skip: bool = False
    identifier: bool = False
    personal: bool = False


_PLAIN = _Kind()


@lru_cache(maxsize=1)
def identifier_fields() -> dict[tuple[str, ...], bool]:
    """The path of every identifier field, and whether it is personal."""
    return {f.path: f.personal for f in load_schema().fields.values() if f.identifier}


@lru_cache(maxsize=1)
def _kinds() -> dict[tuple[str, ...], _Kind]:
    out = {}
    for f in load_schema().fields.values():
        skip = f.path in OWN_FIELDS or f.type in ("date", "boolean", "double")
        out[f.path] = _Kind(skip=skip, identifier=f.identifier, personal=f.personal)
    return out


def text_like(value: str) -> bool:
    """Whether a value is text to be searched word by word: several words (runs of letters and
    digits, as the analyzers split them) with a space or a slash somewhere between. One word, or
    words joined by `_ - . :` (a code, a name of a thing), is found as the whole value."""
    first = _WORD.search(value)
    return (first is not None and _WORD.search(value, first.end()) is not None
            and _SPACE_OR_SLASH.search(value) is not None)


def searchable(event: dict, identifiers: bool = True) -> Searchable:
    """The values of a normalised event a bare term is matched against, by kind. `identifiers`
    False leaves identifier values out (a backend that indexes them by path, whole and folded,
    and looks a bare term up there too)."""
    out = Searchable()
    kinds = _kinds()
    budget = [MAX_VALUES]

    def take(value, kind: _Kind) -> None:
        if budget[0] <= 0:
            return
        if type(value) is int:
            value = str(value)
        elif type(value) is not str or not value:
            return
        if kind.identifier and not identifiers:
            return
        budget[0] -= 1
        if len(value) <= KEY_CHARS:
            (out.personal_keys if kind.personal else out.keys).append(value)
        if not kind.identifier and (len(value) > KEY_CHARS or text_like(value)):
            (out.personal_words if kind.personal else out.words).append(value)

    stack: list[tuple[object, tuple[str, ...], _Kind | None]] = [(event, (), None)]
    while stack:
        node, path, kind = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                if type(key) is not str or key.startswith("_"):
                    continue
                child = path + (key,)
                child_kind = kind if kind is not None else kinds.get(child)
                if child_kind is not None and child_kind.skip:
                    continue
                if child == ("changes",):
                    child_kind = _PLAIN
                stack.append((value, child, child_kind))
        elif type(node) is list:
            for item in node:
                stack.append((item, path, kind))
        else:
            take(node, kind or _PLAIN)
    return out


def ip_forms(value: str) -> list[str]:
    """A pasted IP in the forms an event may hold it: as pasted, and canonical (`::FFFF:…`,
    leading zeros, upper-case hex)."""
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return []
    forms = {str(address)}
    if address.version == 6 and address.ipv4_mapped is not None:
        forms.add(str(address.ipv4_mapped))
    return sorted(forms - {value})


def bare_keys(value: str) -> list[str]:
    """The whole values a pasted `value` is looked up as (each folded by the index's analyzer)."""
    return [value, *ip_forms(value)]
