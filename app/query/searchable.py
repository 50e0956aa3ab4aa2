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

KEY_CHARS = 256  # longer values are found by their words only
MAX_VALUES = 2000  # values of one event taken into the catch-all (events are bounded anyway)
OWN_FIELDS = frozenset({("message",), ("error", "message"), ("error", "stack_trace"), ("event", "id"), ("@timestamp",)})
_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits, as the analyzers split words
_SPACE_OR_SLASH = re.compile(r"[\s/\\]")


@dataclass
class Searchable:
    keys: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    personal_keys: list[str] = field(default_factory=list)
    personal_words: list[str] = field(default_factory=list)


# what a leaf holds, by its field: skipped, or gathered into keys / words (personal or not)
_SKIP, _PLAIN, _IDENTIFIER, _PERSONAL, _PERSONAL_IDENTIFIER = range(5)


@lru_cache(maxsize=1)
def identifier_fields() -> dict[tuple[str, ...], bool]:
    """The path of every identifier field, and whether it is personal."""
    return {f.path: f.personal for f in load_schema().fields.values() if f.identifier}


@lru_cache(maxsize=1)
def _tree() -> dict:
    """The schema as nested dicts: a namespace maps to its children, a field to its kind."""
    tree: dict = {}
    for f in load_schema().fields.values():
        if f.path in OWN_FIELDS or f.type in ("date", "boolean", "double"):
            kind = _SKIP
        else:
            kind = (
                (_PERSONAL_IDENTIFIER if f.identifier else _PERSONAL)
                if f.personal
                else (_IDENTIFIER if f.identifier else _PLAIN)
            )
        node = tree
        for part in f.path[:-1]:
            node = node.setdefault(part, {})
        node[f.path[-1]] = kind
    tree["changes"] = _PLAIN  # {field, old, new}: every value plain
    return tree


def text_like(value: str) -> bool:
    """Whether a value is text to be searched word by word: several words (runs of letters and
    digits, as the analyzers split them) with a space or a slash somewhere between. One word, or
    words joined by `_ - . :` (a code, a name of a thing), is found as the whole value."""
    if _SPACE_OR_SLASH.search(value) is None:
        return False
    first = _WORD.search(value)
    return first is not None and _WORD.search(value, first.end()) is not None


def searchable(event: dict, identifiers: bool = True) -> Searchable:
    """The values of a normalised event a bare term is matched against, by kind. `identifiers`
    False leaves identifier values out (a backend that indexes them by path, whole and folded,
    and looks a bare term up there too)."""
    out = Searchable()
    lists: dict[int, tuple[list[str] | None, list[str] | None]] = {
        _PLAIN: (out.keys, out.words),
        _PERSONAL: (out.personal_keys, out.personal_words),
        _IDENTIFIER: (out.keys, None),
        _PERSONAL_IDENTIFIER: (out.personal_keys, None),
    }
    if not identifiers:
        lists[_IDENTIFIER] = lists[_PERSONAL_IDENTIFIER] = (None, None)
    budget = MAX_VALUES

    def leaves(node, kind: int) -> None:  # every value under a field, of that field's kind
        nonlocal budget
        keys, words = lists[kind]
        if keys is None:
            return
        todo = [node]
        while todo and budget > 0:
            value = todo.pop()
            kind_of = type(value)
            if kind_of is str:
                if not value:
                    continue
            elif kind_of is int:
                value = str(value)
            elif kind_of is dict:
                todo.extend(value.values())
                continue
            elif kind_of is list:
                todo.extend(value)
                continue
            else:
                continue
            budget -= 1
            if len(value) <= KEY_CHARS:
                keys.append(value)
                if words is not None and text_like(value):
                    words.append(value)
            elif words is not None:
                words.append(value)

    def walk(node: dict, tree: dict) -> None:
        nonlocal budget
        for key, value in node.items():
            spec = tree.get(key, _PLAIN)
            if type(spec) is dict:
                if type(value) is dict:
                    walk(value, spec)
                else:
                    leaves(value, _PLAIN)
            elif spec == _SKIP or key[:1] == "_":
                continue
            elif type(value) is str and budget > 0:
                # the common case, the same steps as leaves() without its call: a third of the
                # cost of this function on demo events (keep the two in step)
                keys, words = lists[spec]
                if keys is None or not value:
                    continue
                budget -= 1
                if len(value) <= KEY_CHARS:
                    keys.append(value)
                    if words is not None and text_like(value):
                        words.append(value)
                elif words is not None:
                    words.append(value)
            else:
                leaves(value, spec)

    walk(event, _tree())
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
