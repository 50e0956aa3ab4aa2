"""The query language: a query string -> AST (ast.py).

Lucene/Kibana-like. Words and "phrases" search the full text; field:value filters one field
(field:*, field:val*, field:>=x, field:[a TO b], field:(a OR b)); AND, OR and NOT (upper case
only) or a leading '-' combine them, and terms next to each other are ANDed.

A small scanner reads tokens on demand (a field's value is read differently from free text, so
the parser asks for it when it gets there) and a recursive-descent parser builds the AST.
Recursion happens only on '(' and NOT, and both are capped at MAX_DEPTH, so no input can
exhaust the stack. Every error is a QueryError with a 0-based position into the query.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from .ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from .fields import NAMESPACE, QueryField, known_fields, resolve
from .sql import fts_words
from .timeexpr import parse_time

MAX_LENGTH = 4096
MAX_CLAUSES = 256
MAX_DEPTH = 32

# what reads as a field name before its ':' (whether it is one, fields.resolve says, at its position)
_FIELD = re.compile(r'[^\s()"\\:]+:')
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_OPERATORS = ("AND", "OR", "NOT")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_GROUP_TYPES = (NAMESPACE, "labels", "changes")  # hold other fields; only field:* applies
_KINDS = {
    "long": "a number field",
    "double": "a number field",
    "date": "a date field",
    "boolean": "a true/false field",
    "text": "a full-text field",
    "ip": "an IP address field",
}
_NO_PREFIX = ("long", "double", "date", "boolean")
_LIMITS = {
    "long": (Decimal(-(2**63)), Decimal(2**63 - 1)),  # what both stores can hold
    "double": (Decimal("-1.7976931348623157e308"), Decimal("1.7976931348623157e308")),
}
_NO_RANGE = ("text", "boolean", "ip")
_WORD_STOPS = '()"'
_BOUND_STOPS = '()"]}'
_EXPECT_VALUE = 'a value, "a phrase", * or a range'
_EXPECT_TERM = "a search term"
_EXPECT_TIME = "a time: ISO-8601, epoch milliseconds or now-15m"


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) AND OR NOT FIELD WORD PHRASE STAR EOF
    pos: int
    end: int
    value: str = ""  # the word or phrase (escapes resolved), field name, or operator as typed
    prefix: bool = False


def parse(query: str) -> Node:
    """The AST of `query`; QueryError (with a position) when it is not a valid query."""
    if len(query) > MAX_LENGTH:
        raise QueryError(f"the query is too long ({len(query)} characters; at most {MAX_LENGTH})", position=MAX_LENGTH)
    if not query.strip():
        return MatchAll()
    return _parsed(query)


@lru_cache(maxsize=1024)  # a dashboard parses the same few queries on every refresh; the AST is immutable
def _parsed(query: str) -> Node:
    return _Parser(query).parse()


def exact_term(name: str, value: str) -> Term:
    """`name:value` for a value given apart from a query (a timeline's or context's key), checked
    as if typed in one: a number field takes a number in range, an IP field an address, …"""
    field = resolve(name)
    if field.type in (*_GROUP_TYPES, "text"):
        raise QueryError(f"{field.name} is not a field with exact values", field=field.name)
    return Term(field.name, _Parser(value)._check(field, value, 0))


def _group_error(field: QueryField, position: int) -> QueryError:
    members = [name for name, f in known_fields().items() if name.startswith(field.name + ".") and f.type != NAMESPACE][:3]
    listed = f" (its fields include {', '.join(members)})" if members else ""
    return QueryError(
        f"{field.name} is a group of fields; use {field.name}.<name>:value, or {field.name}:* for presence{listed}",
        position=position,
        expected=f"{field.name}.<name>:value or {field.name}:*",
        field=field.name,
    )


def _combine(kind: type[And] | type[Or], items: list[Node]) -> Node:
    """And/Or of `items`, flattening nested ones of the same kind; one item is just that item."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    if any(isinstance(item, MatchAll) for item in flat):
        if kind is Or:
            return MatchAll()
        flat = [item for item in flat if not isinstance(item, MatchAll)] or [MatchAll()]
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.depth = 0
        self.clauses = 0
        self._peeked: _Token | None = None

    # --- scanner ---------------------------------------------------------------------------

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _at(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _word(self, start: int, stops: str = _WORD_STOPS) -> tuple[str, bool, str, int]:
        """(value, prefix, raw, end) of the word at `start`: up to whitespace or a stop character.
        Backslash escapes the next character; a trailing unescaped * means prefix."""
        text, i, out, escaped = self.text, start, [], False
        while i < len(text) and not text[i].isspace() and text[i] not in stops:
            escaped = text[i] == "\\" and i + 1 < len(text)
            out.append(text[i + 1] if escaped else text[i])
            i += 2 if escaped else 1
        prefix = bool(out) and out[-1] == "*" and not escaped
        return "".join(out[:-1] if prefix else out), prefix, text[start:i], i

    def _phrase(self, start: int) -> tuple[str, int]:
        """(value, end) of the phrase whose opening quote is at `start`."""
        text, i = self.text, start + 1
        out: list[str] = []
        while i < len(text):
            if text[i] == '"':
                if not out:
                    raise QueryError(
                        "empty phrase: put a word or words between the quotes", position=start, expected="a word or phrase"
                    )
                return "".join(out), i + 1
            if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
                i += 1
            out.append(text[i])
            i += 1
        raise QueryError(f"unterminated phrase starting at position {start}", position=len(text), expected='"')

    def _lex(self) -> _Token:
        self._skip_ws()
        text, i = self.text, self.pos
        if i >= len(text):
            return _Token("EOF", i, i)
        c = text[i]
        if c in "()":
            return _Token(c, i, i + 1)
        if c == '"':
            value, end = self._phrase(i)
            return _Token("PHRASE", i, end, value)
        if c == "-" and i + 1 < len(text) and not text[i + 1].isspace() and text[i + 1] != ")":
            return _Token("NOT", i, i + 1, "-")
        field = _FIELD.match(text, i)
        if field and not _pasted(text, i):
            return _Token("FIELD", i, field.end(), field.group()[:-1])
        value, prefix, raw, end = self._word(i)
        if raw in _OPERATORS:
            return _Token(raw, i, end, raw)
        if raw == "*":
            return _Token("STAR", i, end)
        return _Token("WORD", i, end, value, prefix)

    def _peek(self) -> _Token:
        if self._peeked is None:
            self._peeked = self._lex()
        return self._peeked

    def _advance(self) -> _Token:
        token = self._peek()
        self.pos, self._peeked = token.end, None
        return token

    # --- boolean structure -----------------------------------------------------------------

    def parse(self) -> Node:
        node = self._or(None)
        token = self._peek()
        if token.kind != "EOF":  # only a ')' without its '(' stops the top level early
            raise QueryError("unexpected ')'", position=token.pos, expected="AND, OR, a search term or the end of the query")
        return node

    def _or(self, after: _Token | None) -> Node:
        items = [self._and(after)]
        while self._peek().kind == "OR":
            items.append(self._and(self._advance()))
        return _combine(Or, items)

    def _and(self, after: _Token | None) -> Node:
        items = [self._unary(after)]
        while self._peek().kind not in ("EOF", ")", "OR"):
            explicit = self._advance() if self._peek().kind == "AND" else None
            items.append(self._unary(explicit))
        return _combine(And, items)

    def _unary(self, after: _Token | None) -> Node:
        token = self._peek()
        if token.kind in ("NOT", "("):
            self._nest(token)
            self._advance()
            if token.kind == "NOT":
                node: Node = Not(self._unary(token))
            else:
                node = self._or(token)
                if self._peek().kind != ")":
                    raise QueryError(
                        f"missing ')' to close '(' at position {token.pos}", position=self._peek().pos, expected="')'"
                    )
                self._advance()
            self.depth -= 1
            return node
        if token.kind in ("FIELD", "WORD", "PHRASE", "STAR"):
            return self._clause(self._advance())
        if after is not None:
            shown = after.value if after.value in _OPERATORS else f"'{after.value or after.kind}'"
            message = f"expected a search term after {shown}"
        elif token.kind in ("AND", "OR"):
            message = f"expected a search term before {token.kind}"
        else:
            message = "unexpected ')'" if token.kind == ")" else "expected a search term"
        raise QueryError(message, position=token.pos, expected=_EXPECT_TERM)

    def _nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"the query is nested too deeply (at most {MAX_DEPTH} levels of parentheses and NOT)", position=token.pos
            )

    def _count(self, position: int) -> None:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise QueryError(f"the query has too many search terms (at most {MAX_CLAUSES})", position=position)

    # --- clauses and field values ----------------------------------------------------------

    def _clause(self, token: _Token) -> Node:
        if token.kind != "FIELD":
            self._count(token.pos)
            if token.kind == "STAR":
                return MatchAll()
            _searchable(token.value, token.pos)
            return Text(token.value, phrase=token.kind == "PHRASE", prefix=token.prefix, pos=token.pos)
        field = resolve(token.value, token.pos)
        self._skip_ws()
        if field.type in _GROUP_TYPES:
            _, _, raw, end = self._word(self.pos)
            if raw != "*":
                raise _group_error(field, token.pos)
            self._count(self.pos)
            self.pos = end
            return Exists(field.name)
        if self._at() != "(":
            return self._value(field, f"'{field.name}:'")
        open_pos = self.pos
        items: list[Node] = []
        self.pos += 1
        while True:
            self._skip_ws()
            items.append(self._value(field, "OR" if items else f"'{field.name}:('"))
            self._skip_ws()
            if self._at() == ")":
                self.pos += 1
                return _combine(Or, items)
            if not self._at():
                raise QueryError(f"missing ')' to close '(' at position {open_pos}", position=self.pos, expected="')'")
            _, _, raw, end = self._word(self.pos)
            if raw != "OR":
                raise QueryError(
                    f"expected OR or ')' in the list of values for {field.name}", position=self.pos, expected="OR or ')'"
                )
            self.pos = end

    def _value(self, field: QueryField, after: str) -> Node:
        text, start = self.text, self.pos
        self._count(start)
        c = self._at()
        if c == '"':
            value, self.pos = self._phrase(start)
            return self._leaf(field, value, start, phrase=True)
        if c and c in "[{":
            return self._bracket_range(field, start)
        for op in (">=", "<=", ">", "<"):
            if text.startswith(op, start):
                self.pos += len(op)
                self._skip_ws()
                bound = self._bound(f"a value after '{op}'", _WORD_STOPS)
                if bound is None:
                    raise QueryError(f"expected a value after '{op}'", position=start + len(op), expected="a value")
                low, high = (bound, None) if op[0] == ">" else (None, bound)
                return self._range(field, low, high, op == ">=", op == "<=", start)
        value, prefix, raw, end = self._word(start)
        if not raw or raw in _OPERATORS:
            raise QueryError(f"expected a value after {after}", position=start, expected=_EXPECT_VALUE, field=field.name)
        self.pos = end
        if raw == "*":
            return Exists(field.name)
        return self._leaf(field, value, start, prefix=prefix)

    def _bound(self, what: str, stops: str) -> tuple[str, int] | None:
        """(value, position) of a range bound, None for the open end '*'."""
        start, c = self.pos, self._at()
        if c == '"':
            value, self.pos = self._phrase(start)
            return value, start
        value, prefix, raw, end = self._word(start, stops)
        if not raw or raw in _OPERATORS or raw == "TO":
            raise QueryError(f"expected {what}", position=start, expected="a value or *")
        if prefix and value:
            raise QueryError(f"a range cannot hold a prefix ({raw}); use a value or *", position=start)
        self.pos = end
        return None if prefix else (value, start)

    def _bracket_range(self, field: QueryField, start: int) -> Node:
        opening = self.text[start]
        self.pos += 1
        self._skip_ws()
        low = self._bound(f"a lower bound after '{opening}'", _BOUND_STOPS)
        self._skip_ws()
        _, _, raw, end = self._word(self.pos, _BOUND_STOPS)
        if raw != "TO":
            raise QueryError(f"expected TO in the range starting at position {start}", position=self.pos, expected="TO")
        self.pos = end
        self._skip_ws()
        high = self._bound("an upper bound after TO", _BOUND_STOPS)
        self._skip_ws()
        closing = self._at()
        if not closing or closing not in "]}":
            message = (
                f"missing ']' or '}}' to close '{opening}' at position {start}"
                if not closing
                else "expected ']' or '}' to end the range"
            )
            raise QueryError(message, position=self.pos, expected="']' or '}'")
        self.pos += 1
        return self._range(field, low, high, opening == "[", closing == "]", start)

    # --- field semantics -------------------------------------------------------------------

    def _range(
        self,
        field: QueryField,
        low: tuple[str, int] | None,
        high: tuple[str, int] | None,
        include_low: bool,
        include_high: bool,
        position: int,
    ) -> Node:
        if field.type in _NO_RANGE:
            hint = f"; use a prefix such as {field.name}:10.0.*" if field.type == "ip" else ""
            raise QueryError(
                f"{field.name} is {_KINDS[field.type]}: ranges are not possible{hint}", position=position, field=field.name
            )
        if low is None and high is None:
            return Exists(field.name)  # [* TO *]: any value at all
        return Range(
            field.name,
            self._check(field, *low) if low else None,
            self._check(field, *high) if high else None,
            include_low if low else True,
            include_high if high else True,
            pos=position,
        )

    def _leaf(self, field: QueryField, value: str, position: int, phrase: bool = False, prefix: bool = False) -> Node:
        if field.type == "text":
            _searchable(value, position)
            return Text(value, phrase=phrase, prefix=prefix, field=field.name, pos=position)
        if not prefix:
            return Term(field.name, self._check(field, value, position), pos=position)
        if field.type in _NO_PREFIX:
            hint = f"; use a range such as {field.name}:[500 TO 599]" if field.type in ("long", "double") else ""
            raise QueryError(
                f"{field.name} is {_KINDS[field.type]}: a prefix ({value}*) is not possible{hint}",
                position=position,
                field=field.name,
            )
        return Prefix(field.name, value, pos=position)

    def _check(self, field: QueryField, value: str, position: int) -> str:
        """`value` checked against the field's type (and normalised, for booleans)."""
        if field.type in ("long", "double"):
            if not _NUMBER.match(value):
                raise QueryError(
                    f"expected a number for {field.name}, not {_shown(value)}",
                    position=position,
                    expected="a number",
                    field=field.name,
                )
            low, high = _LIMITS[field.type]
            try:
                in_range = low <= Decimal(value) <= high
            except ArithmeticError:  # an exponent beyond what Decimal holds
                in_range = False
            if not in_range:
                raise QueryError(
                    f"{_shown(value)} is out of range for {field.name} "
                    f"({_KINDS[field.type]} between {low:.4g} and {high:.4g})",
                    position=position,
                    expected="a number in range",
                    field=field.name,
                )
        if field.type == "ip" and not _is_ip(value):
            raise QueryError(
                f"expected an IP address for {field.name}, not {_shown(value)} (a prefix such as "
                f"{field.name}:10.0.* finds a network)",
                position=position,
                expected="an IP address",
                field=field.name,
            )
        if field.type == "boolean":
            if value.lower() not in ("true", "false"):
                raise QueryError(
                    f"expected true or false for {field.name}, not {_shown(value)}",
                    position=position,
                    expected="true or false",
                    field=field.name,
                )
            return value.lower()
        if field.type == "date":
            try:
                parse_time(value, 0, field.name)
            except QueryError as error:
                raise QueryError(error.message, position=position, expected=_EXPECT_TIME, field=field.name) from None
            except (ValueError, OverflowError):  # e.g. a year out of range once in UTC
                raise QueryError(
                    f"{field.name}: {_shown(value)} is not a usable time",
                    position=position,
                    expected=_EXPECT_TIME,
                    field=field.name,
                ) from None
        return value


def _shown(value: str) -> str:
    """A value quoted in an error message (long ones cut)."""
    return repr(value if len(value) <= 60 else value[:60] + "…")


def _searchable(value: str, position: int) -> None:
    """Full text is searched by its words: a term without letters or digits finds nothing."""
    if not fts_words(value):
        raise QueryError(f"{_shown(value)} has no letters or digits to search for", position=position, expected="a word")


def _pasted(text: str, start: int) -> bool:
    """Whether the word at `start`, though it holds a colon, is a pasted value rather than
    field:value: an IPv6 address (`2001:db8::1`, `[::1]`) or a URL (`https://…`)."""
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in _WORD_STOPS:
        end += 1
    word = text[start:end]
    return bool(_URL.match(word)) or _is_ip(word.strip("[]").rstrip("*"))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False
