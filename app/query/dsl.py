"""Compile a query AST to OpenSearch Query DSL, with the same meaning as the SQL compiler
(sql.py) gives it on the embedded store — the contract suite runs every query on both.

Mappings this relies on (index_templates/platlogs-common.json, app/storage/opensearch_templates.py):
full-text fields are `text` with an analyzer that splits like FTS5's unicode61 (runs of letters
and digits, lower case, accents folded), plus a `.raw` wildcard subfield for the "occurs as
written" check of `field:"a phrase"`; `error.stack_trace` is a wildcard field with a `.words`
subfield; identifiers have a `.fold` subfield (lower case, accents folded) that field:VALUE and
field:VAL* query; and every other value of an event is in `platlogs_search` (keys: whole values
folded; words: the words of text-like values; the same again for personal fields), sorted at
write time by app/query/searchable.py as the embedded store sorts them (identifiers left out:
they are looked up in their own `.fold`).

A bare term (no field) finds, like on the embedded store (app/storage/tantivy_query.py):
  - its words as a phrase in message, error.message, error.stack_trace and the other values'
    words (and personal values' words, only for a reader who sees personal data);
  - or a whole value in any case (`bare_keys`: an IP also in its canonical form) in the keys and
    every identifier, personal values included whoever reads — a masked reader still finds the
    full exact value;
  - or the event.id in any case.
`foo*` is a phrase prefix in the same words, a prefix of the whole values and identifiers
(personal ones only inside personal data) and of event.id.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from .ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from .fields import QueryField, resolve, typed_value
from .searchable import KEY_CHARS, bare_keys, identifier_fields, ip_forms
from .sql import fts_words

SEARCH = "platlogs_search"  # the index-only object of searchable values (opensearch_templates.SEARCH)
FOLDED = "fold"  # an identifier's subfield in lower case, accents folded
# the words a bare term is looked for in, and, for a reader who sees personal data, these too
WORD_FIELDS = ("message", "error.message", "error.stack_trace.words", f"{SEARCH}.words")
PERSONAL_WORDS = f"{SEARCH}.personal_words"
KEYS, PERSONAL_KEYS = f"{SEARCH}.keys", f"{SEARCH}.personal_keys"
ID = "event.id"
ID_CHARS = 128  # the longest event.id (app/events/normalize.py); matched in any case
PHRASE_PREFIX_EXPANSIONS = 1000  # words the last one of a multi-word prefix may stand for
# OpenSearch refuses (with a 500) a query of more than 1024 clauses once expanded, and a wildcard or
# prefix whose automaton passes 1000 states: the compiler refuses first, at the clause's position
MAX_EXPANDED_CLAUSES = 1000
MAX_PATTERN_CHARS = 900
_QUERY_TYPES = frozenset(
    (
        "bool",
        "match",
        "match_bool_prefix",
        "match_phrase",
        "match_phrase_prefix",
        "wildcard",
        "term",
        "terms",
        "prefix",
        "range",
        "exists",
        "match_all",
        "match_none",
    )
)


def clause_count(query) -> int:
    """How many query clauses `query` holds, nested ones included (how OpenSearch counts them)."""
    if isinstance(query, list):
        return sum(clause_count(q) for q in query)
    if not isinstance(query, dict):
        return 0
    own = 1 if len(query) == 1 and next(iter(query)) in _QUERY_TYPES else 0
    return own + sum(clause_count(v) for v in query.values() if isinstance(v, (dict, list)))


@lru_cache(maxsize=1)
def _identifiers() -> tuple[tuple[str, bool], ...]:
    """(name, personal) of every identifier field: a bare value is looked up whole in each."""
    return tuple((".".join(path), personal) for path, personal in identifier_fields().items())


def fold(token: str) -> str:
    """Lower case, accents removed: how the full-text index stores a token."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def wildcard_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _bool(**clauses) -> dict:
    return {"bool": {k: v for k, v in clauses.items() if v}}


class DSLCompiler:
    def __init__(self, now_ms: int, inside_personal: bool = True):
        """`inside_personal`: bare words and prefixes may match inside personal values (False for a
        reader who sees them masked: a personal value is found by its whole exact value only)."""
        self.now_ms = now_ms
        self.inside_personal = inside_personal

    def compile(self, node: Node) -> dict:
        self._clauses = 0
        return self._compile(node)

    def _compile(self, node: Node) -> dict:
        query = getattr(self, "_" + type(node).__name__.lower())(node)
        if not isinstance(node, (And, Or, Not)):
            value = getattr(node, "value", None)
            if (
                isinstance(value, str)
                and len(value) > MAX_PATTERN_CHARS
                and (isinstance(node, Prefix) or (isinstance(node, Text) and self._patterned(node)))
            ):
                raise QueryError(
                    f"this store matches a prefix or phrase of at most {MAX_PATTERN_CHARS} characters",
                    position=getattr(node, "pos", None),
                )
            self._clauses += clause_count(query)
            if self._clauses > MAX_EXPANDED_CLAUSES:
                raise QueryError(
                    f"the query is too large for this store (more than {MAX_EXPANDED_CLAUSES} "
                    "clauses once words, prefixes and phrases are expanded); use fewer terms",
                    position=getattr(node, "pos", None),
                )
        return query

    @staticmethod
    def _patterned(node: Text) -> bool:
        """Whether a Text compiles to a wildcard or prefix (rather than words or exact keys)."""
        if node.prefix:
            return True
        if not node.field:
            return False  # words as phrases, whole values as terms
        return not resolve(node.field).fulltext or node.phrase or len(fts_words(node.value)) > 1

    # -- structure --------------------------------------------------------------------

    def _matchall(self, node: MatchAll) -> dict:
        return {"match_all": {}}

    def _and(self, node: And) -> dict:
        return _bool(filter=[self._compile(n) for n in node.items])

    def _or(self, node: Or) -> dict:
        return _bool(should=[self._compile(n) for n in node.items], minimum_should_match=1)

    def _not(self, node: Not) -> dict:
        # like SQL's IS NOT 1: events without the field are "not field:value" too
        return _bool(must_not=[self._compile(node.item)])

    # -- leaves -----------------------------------------------------------------------

    def _text(self, node: Text) -> dict:
        words = fts_words(node.value)
        if not node.field:
            return self._bare(node, words)
        if not words:
            raise QueryError(f"{node.value!r} has no letters or digits to search for")
        info = resolve(node.field)
        if not info.fulltext:  # a field outside the full-text index: substring, any case
            return self._contains(info.name, node.value)
        return self._text_in(info.name, node, words)

    def _text_in(self, field: str, node: Text, words: list[str]) -> dict:
        text = " ".join(words)  # analysed by the field's own analyser: folded as it was indexed
        if node.prefix:  # every word but the last as a word, the last as the start of a word
            return {"match_bool_prefix": {field: {"query": text, "operator": "and"}}}
        match = {"match": {field: {"query": text, "operator": "and"}}}
        if not (node.phrase or len(words) > 1):
            return match
        # the words must also occur as written (case aside), like the embedded store's check
        return _bool(filter=[match, self._contains(field + ".raw", node.value)])

    @staticmethod
    def _contains(field: str, value: str) -> dict:
        return {"wildcard": {field: {"value": f"*{wildcard_escape(value)}*", "case_insensitive": True}}}

    def _bare(self, node: Text, words: list[str]) -> dict:
        """A term without a field: its words in every text and value, or a whole value (in the
        catch-all, or in an identifier field: those are not repeated in the catch-all), or the id."""
        targets = WORD_FIELDS + ((PERSONAL_WORDS,) if self.inside_personal else ())
        options = [self._phrase(target, words, node.prefix) for target in targets] if words else []
        if node.prefix:  # normalised by the keys' normalizer, as the values were
            if 0 < len(node.value) <= KEY_CHARS:  # (longer values are not kept whole)
                keys = (KEYS, PERSONAL_KEYS) if self.inside_personal else (KEYS,)
                options += [{"prefix": {key: node.value}} for key in keys]
                options += [
                    {"prefix": {f"{name}.{FOLDED}": node.value}}
                    for name, personal in _identifiers()
                    if self.inside_personal or not personal
                ]
        else:  # whole values: personal ones too (what a masked reader may match)
            values = bare_keys(node.value)
            options += [{"terms": {key: values}} for key in (KEYS, PERSONAL_KEYS)]
            options += [{"terms": {f"{name}.{FOLDED}": values}} for name, _ in _identifiers()]
        options.append(self._id("prefix" if node.prefix else "term", node.value))
        return _bool(should=options, minimum_should_match=1)

    @staticmethod
    def _id(kind: str, value: str) -> dict:
        """event.id in any case (an automaton: bounded by the length of an id)."""
        if len(value) > ID_CHARS:
            return {"match_none": {}}
        return {kind: {ID: {"value": value, "case_insensitive": True}}}

    @staticmethod
    def _phrase(field: str, words: list[str], prefix: bool) -> dict:
        """The words next to each other in this order (the last as the start of a word)."""
        text = " ".join(words)  # analysed by the field's own analyser: folded as it was indexed
        if not prefix:
            return {"match_phrase": {field: {"query": text}}}
        if len(words) == 1:  # a prefix of one word: every word it starts, without a bound
            return {"match_bool_prefix": {field: {"query": text}}}
        return {"match_phrase_prefix": {field: {"query": text, "max_expansions": PHRASE_PREFIX_EXPANSIONS}}}

    def _typed(self, info: QueryField, value: str):
        return typed_value(info, value, self.now_ms)

    def _term(self, node: Term) -> dict:
        info = resolve(node.field)
        if info.identifier:  # any case, accents folded (an IP also in its canonical form)
            return self._identifier(
                {"terms": {f"{info.name}.{FOLDED}": [node.value, *ip_forms(node.value)]}}, {"term": {info.name: node.value}}
            )
        if info.name == ID:
            return self._id("term", node.value)
        value = self._typed(info, node.value)
        if info.type == "long" and isinstance(value, float):
            return {"match_none": {}}  # a whole-number field never equals 1.5
        return {"term": {info.name: value}}

    def _prefix(self, node: Prefix) -> dict:
        info = resolve(node.field)
        if info.identifier:
            return self._identifier({"prefix": {f"{info.name}.{FOLDED}": node.value}}, {"prefix": {info.name: node.value}})
        if info.name == ID:
            return self._id("prefix", node.value)
        return {"prefix": {info.name: node.value}}

    @staticmethod
    def _identifier(folded: dict, as_written: dict) -> dict:
        """An identifier in any case; as written too, for generations made before `.fold` was
        mapped (they answer in the exact case only)."""
        return _bool(should=[folded, as_written], minimum_should_match=1)

    def _range(self, node: Range) -> dict:
        info = resolve(node.field)
        bounds: dict = {}
        if node.low is not None:
            bounds["gte" if node.include_low else "gt"] = self._typed(info, node.low)
        if node.high is not None:
            bounds["lte" if node.include_high else "lt"] = self._typed(info, node.high)
        if not bounds:
            return self._exists(Exists(node.field))
        if info.type == "date":
            bounds["format"] = "epoch_millis"
        return {"range": {info.name: bounds}}

    def _exists(self, node: Exists) -> dict:
        info = resolve(node.field)
        if info.name == "@timestamp":
            return {"match_all": {}}
        return {"exists": {"field": info.name}}
