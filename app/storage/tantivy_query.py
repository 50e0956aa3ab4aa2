"""Compile a query AST to a tantivy Query, with the meaning the SQL (app/query/sql.py) and DSL
(app/query/dsl.py) compilers give it — the contract suite runs every query on every backend.

Where each field lives is app/storage/tantivy_schema.py's business: `f.<path>` for every value
(fast: exact terms, ranges, `field:*`), `message`/`body`/`stack` for full text, `keys`/`pkeys`
for whole values folded, `all`/`pall` for the words of other values, `fi.<path>` for identifiers
folded. What a bare term finds is app/query/searchable.py's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import overload

import tantivy
from tantivy import FieldType, Occur, Query

from ..events.convert import format_ts
from ..query.ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from ..query.fields import QueryField, resolve, typed_value
from ..query.searchable import KEY_CHARS, bare_keys, identifier_fields, ip_forms
from ..query.timeexpr import parse_time
from .tantivy_schema import FULLTEXT, LOWER, SEQ_BITS, WORDS, analyzers, index_schema

TEXT_TARGETS = ("message", "body", "stack", "all")  # the words a bare term is looked for in
PERSONAL_WORDS = "pall"  # …and these, for a reader who sees personal data
ID = "event.id"  # in a field of its own, in lower case
MAX_CLAUSES = 1000  # terms a query may expand to (prefixes, words)
_PLAIN = re.compile(r"[\w.@\-/+]+")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def tantivy_path(info: QueryField) -> str:
    """Where a field's exact values are indexed (and counted)."""
    return "f." + ".".join(info.path)


@overload
def time_range(start_ms: int, end_ms: int | None) -> Query: ...
@overload
def time_range(start_ms: int | None, end_ms: int | None) -> Query | None: ...


def time_range(start_ms: int | None, end_ms: int | None) -> Query | None:
    """Events with start_ms <= time < end_ms, as a range over the fast field `seq`."""
    if start_ms is None and end_ms is None:
        return None
    last = (1 << (64 - SEQ_BITS)) - 1  # the last millisecond a seq holds (year 2109)
    low = min(max(start_ms, 0), last) << SEQ_BITS if start_ms is not None else None
    high = min(max(end_ms, 0), last) << SEQ_BITS if end_ms is not None else None
    if end_ms is not None and end_ms > last:
        high = None  # past every event this store can hold
        if low is None:
            return None  # no bound left: every time
    if high is not None and low is not None and high <= low:
        return Query.empty_query()
    return Query.range_query(index_schema(), "seq", FieldType.Unsigned, low, high, include_upper=high is None)


def all_of(queries: list[Query | None]) -> Query:
    present = [q for q in queries if q is not None]
    if not present:
        return Query.all_query()
    if len(present) == 1:
        return present[0]
    return Query.boolean_query([(Occur.Must, q) for q in present])


def any_of(queries: list[Query]) -> Query:
    if not queries:
        return Query.empty_query()
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Should, q) for q in queries])


class TantivyCompiler:
    def __init__(self, now_ms: int, inside_personal: bool = True):
        """`inside_personal`: bare words and prefixes may match inside personal values (False:
        personal values are found by their whole value only)."""
        self.now_ms = now_ms
        self.inside_personal = inside_personal
        self.schema = index_schema()
        self.words = analyzers()[WORDS]
        self.lower = analyzers()[LOWER]
        self.clauses = 0

    def compile(self, node: Node) -> Query:
        return self._node(node)

    def _node(self, node: Node) -> Query:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise QueryError(
                f"the query is too large (more than {MAX_CLAUSES} terms); use fewer terms",
                position=getattr(node, "pos", None),
            )
        return getattr(self, "_" + type(node).__name__.lower())(node)

    # -- structure --------------------------------------------------------------------

    def _matchall(self, node: MatchAll) -> Query:
        return Query.all_query()

    def _and(self, node: And) -> Query:
        return all_of([self._node(n) for n in node.items])

    def _or(self, node: Or) -> Query:
        return any_of([self._node(n) for n in node.items])

    def _not(self, node: Not) -> Query:
        # events without the field are "not field:value" too, as on the other backends
        return Query.boolean_query([(Occur.Must, Query.all_query()), (Occur.MustNot, self._node(node.item))])

    # -- full text --------------------------------------------------------------------

    def _text(self, node: Text) -> Query:
        words = self.words.analyze(node.value)
        if node.field:
            if not words:
                raise QueryError(f"{node.value!r} has no letters or digits to search for", position=node.pos)
            return self._words_in(FULLTEXT[resolve(node.field).path], words, node)
        # a bare term: its words in every text and in the words of the other values, or a whole
        # value (an id, e-mail, IP, label, …) in any case
        targets = TEXT_TARGETS + ((PERSONAL_WORDS,) if self.inside_personal else ())
        options = [self._words_in(target, words, node) for target in targets] if words else []
        ids = [path for path, personal in identifier_fields().items() if self.inside_personal or not personal]
        if node.prefix:
            start = self._folded(node.value)
            prefixed = ("keys", "id") + (("pkeys",) if self.inside_personal else ())
            if 0 < len(start) <= KEY_CHARS:  # (longer values are not kept whole)
                options += [Query.regex_query(self.schema, target, re.escape(start) + ".*") for target in prefixed]
                options += [self._starts(_fi(path), start) for path in ids]
        else:  # whole values: personal ones too (the whole value is what a masked reader may match)
            for value in bare_keys(node.value):
                key = self._folded(value)
                options += [Query.term_query(self.schema, target, key) for target in ("keys", "pkeys")]
                options += [Query.term_query(self.schema, _fi(path), key) for path in identifier_fields()]
            options.append(Query.term_query(self.schema, "id", node.value.lower()))
        if not options:
            raise QueryError(f"{node.value!r} has no letters or digits to search for", position=node.pos)
        return any_of(options)

    def _folded(self, value: str) -> str:
        """A whole value as `keys`, `pkeys` and `fi` hold it: lower case, accents folded."""
        tokens = self.lower.analyze(value)
        return tokens[0] if tokens else ""

    def _starts(self, field: str, text: str) -> Query:
        """Every term of `field` (a JSON path too) that starts with `text`, however many: a
        Levenshtein automaton of distance 0 in prefix mode walks the term dictionary. (The phrase-
        prefix query stops at 50 terms a segment: `actor.id:p-00*` counted 50 of 100 players.)"""
        return Query.fuzzy_term_query(self.schema, field, text, distance=0, transposition_cost_one=True, prefix=True)

    def _words_in(self, target: str, words: list[str], node: Text) -> Query:
        if node.prefix and len(words) == 1:
            return self._starts(target, words[0])
        if node.prefix:  # a phrase whose last word is a prefix: that word's first 50 terms a segment (tantivy's)
            return Query.phrase_prefix_query(self.schema, target, words)  # type: ignore[arg-type]  # (invariant list in the stub)
        if len(words) == 1:
            return Query.term_query(self.schema, target, words[0])
        # several words (quoted or not, as "withdrawal approved" or p-1001-x) occur in this order
        return Query.phrase_query(self.schema, target, words)  # type: ignore[arg-type]  # (invariant list in the stub)

    # -- exact values -----------------------------------------------------------------

    def _typed(self, info: QueryField, value: str):
        return typed_value(info, value, self.now_ms)

    def _term(self, node: Term) -> Query:
        info = resolve(node.field)
        if info.name == "@timestamp":
            ms = parse_time(node.value, self.now_ms, info.name)
            return time_range(ms, ms + 1)
        if info.name == ID:
            return Query.term_query(self.schema, "id", node.value.lower())
        if info.identifier:  # any case: folded as `fi` holds it (an IP also in its canonical form)
            return any_of(
                [Query.term_query(self.schema, _fi(info.path), self._folded(v)) for v in [node.value, *ip_forms(node.value)]]
            )
        value = self._typed(info, node.value)
        path = tantivy_path(info)
        if info.type == "date":  # tantivy keeps a JSON string that reads as a time as a date
            return Query.term_query(self.schema, path, datetime.fromtimestamp(value / 1000, UTC))
        if info.type == "long" and isinstance(value, float):
            return Query.empty_query()  # a whole-number field never equals 1.5
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)  # numbers are indexed as whole when they are
        query = Query.term_query(self.schema, path, value)
        if isinstance(value, str) and _RFC3339.match(value):
            when = _as_datetime(value)  # a label or keyword holding a time: indexed as a date too
            if when is not None:
                query = any_of([query, Query.term_query(self.schema, path, when)])
        return query

    def _prefix(self, node: Prefix) -> Query:
        info = resolve(node.field)
        if info.name == ID:
            return Query.regex_query(self.schema, "id", re.escape(node.value.lower()) + ".*")
        if info.identifier:
            return self._starts(_fi(info.path), self._folded(node.value))
        return self._starts(tantivy_path(info), node.value)

    def _range(self, node: Range) -> Query:
        info = resolve(node.field)
        low = self._typed(info, node.low) if node.low is not None else None
        high = self._typed(info, node.high) if node.high is not None else None
        if low is None and high is None:
            return self._exists(Exists(node.field))
        if info.name == "@timestamp":
            start = None if low is None else low + (0 if node.include_low else 1)
            end = None if high is None else high + (1 if node.include_high else 0)
            return time_range(start, end) or Query.all_query()
        if info.name == ID:
            raise QueryError(
                "event.id: ranges are not possible on this store; use event.id:VALUE or a prefix",
                position=node.pos,
                field=info.name,
            )
        if info.type == "date":  # unquoted: a quoted time would be compared as text
            low = None if low is None else format_ts(low)
            high = None if high is None else format_ts(high)
        if info.type in ("long", "double", "date"):
            bounds = [(">=" if node.include_low else ">", low), ("<=" if node.include_high else "<", high)]
            parts = [f"{op}{value if info.type == 'date' else _number(value)}" for op, value in bounds if value is not None]
        else:  # text: an inclusive or exclusive range of terms
            parts = [
                (
                    f"{'[' if node.include_low else '{'}{_quoted(low) if low is not None else '*'} TO "
                    f"{_quoted(high) if high is not None else '*'}{']' if node.include_high else '}'}"
                )
            ]
        # one comparison per bound: tantivy 0.27 panics on an exclusive lower float bound in
        # the bracket form ({5.0 TO 7]) but not on >5.0
        try:
            return all_of([_parser().parse_query(f"{tantivy_path(info)}:{part}") for part in parts])
        except ValueError as exc:
            raise QueryError(
                f"{info.name}: this range cannot be searched ({exc})", position=node.pos, field=info.name
            ) from None

    def _exists(self, node: Exists) -> Query:
        info = resolve(node.field)
        if info.name in ("@timestamp", ID):
            return Query.all_query()
        options = []
        if info.path not in FULLTEXT:
            options.append(Query.exists_query(tantivy_path(info), True))
        # full text is in fields of its own: present when it holds a word
        options += [
            Query.regex_query(self.schema, target, ".*")
            for path, target in FULLTEXT.items()
            if path[: len(info.path)] == info.path
        ]
        return any_of(options)


def _fi(path: tuple[str, ...]) -> str:
    """Where an identifier field's values are indexed folded (lower case, no accents)."""
    return "fi." + ".".join(path)


@lru_cache(maxsize=1)
def _parser() -> tantivy.Index:
    """An empty in-memory index of the schema: tantivy parses range queries on JSON paths
    (Query.range_query takes plain fields only)."""
    index = tantivy.Index(index_schema())
    for name, analyzer in analyzers().items():
        index.register_tokenizer(name, analyzer)
    return index


def _number(value) -> str:
    """A number as tantivy's query parser reads it: digits, no exponent."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise QueryError(f"{value!r} is not a number this store can compare")
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def _quoted(value) -> str:
    """A text bound as tantivy's range syntax takes it: unquoted, so only plain characters."""
    text = str(value)
    if not _PLAIN.fullmatch(text):
        raise QueryError(
            f"{text[:40]!r}: a range over text takes letters, digits and . @ - _ / + only "
            "on this store; use an exact value or a prefix"
        )
    return text


def _as_datetime(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
