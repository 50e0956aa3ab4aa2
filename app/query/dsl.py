"""Compile a query AST to OpenSearch Query DSL, with the same meaning as the SQL compiler
(sql.py) gives it on the embedded store — the contract suite runs every query on both.

Mappings this relies on (index_templates/platlogs-common.json): full-text fields are `text` with
an analyzer that splits like FTS5's unicode61, plus a `.raw` wildcard subfield for the
"occurs as written" check of phrases and multi-word values; exact keys are also indexed as
tokens in `search_keys` so that a free word finds a player, transaction, … id.
"""
from __future__ import annotations

import unicodedata

from .ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from .fields import QueryField, resolve, typed_value
from .sql import fts_words

TEXT_FIELDS = ("message", "error.message")   # what a word without a field searches
# OpenSearch refuses (with a 500) a query of more than 1024 clauses once expanded, and a wildcard or
# prefix whose automaton passes 1000 states: the compiler refuses first, at the clause's position
MAX_EXPANDED_CLAUSES = 1000
MAX_PATTERN_CHARS = 900
_QUERY_TYPES = frozenset(("bool", "match", "match_bool_prefix", "wildcard", "term", "terms", "prefix", "range",
                          "exists", "match_all", "match_none"))


def clause_count(query) -> int:
    """How many query clauses `query` holds, nested ones included (how OpenSearch counts them)."""
    if isinstance(query, list):
        return sum(clause_count(q) for q in query)
    if not isinstance(query, dict):
        return 0
    own = 1 if len(query) == 1 and next(iter(query)) in _QUERY_TYPES else 0
    return own + sum(clause_count(v) for v in query.values() if isinstance(v, (dict, list)))


def fold(token: str) -> str:
    """Lower case, accents removed: how the full-text index stores a token."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def wildcard_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _bool(**clauses) -> dict:
    return {"bool": {k: v for k, v in clauses.items() if v}}


class DSLCompiler:
    def __init__(self, key_fields: dict[str, str], key_token, now_ms: int):
        """`key_fields`: exact-key field name -> token code; `key_token(code, value)` the token."""
        self.key_fields = key_fields
        self.key_token = key_token
        self.now_ms = now_ms

    def compile(self, node: Node) -> dict:
        self._clauses = 0
        return self._compile(node)

    def _compile(self, node: Node) -> dict:
        query = getattr(self, "_" + type(node).__name__.lower())(node)
        if not isinstance(node, (And, Or, Not)):
            value = getattr(node, "value", None)
            if isinstance(value, str) and len(value) > MAX_PATTERN_CHARS and (
                    isinstance(node, Prefix) or (isinstance(node, Text) and self._patterned(node))):
                raise QueryError(f"this store matches a prefix or phrase of at most {MAX_PATTERN_CHARS} "
                                 "characters", position=getattr(node, "pos", None))
            self._clauses += clause_count(query)
            if self._clauses > MAX_EXPANDED_CLAUSES:
                raise QueryError(f"the query is too large for this store (more than {MAX_EXPANDED_CLAUSES} "
                                 "clauses once words, prefixes and phrases are expanded); use fewer terms",
                                 position=getattr(node, "pos", None))
        return query

    @staticmethod
    def _patterned(node: Text) -> bool:
        """Whether a Text compiles to a wildcard or prefix (rather than words or exact keys)."""
        if node.prefix or node.phrase or len(fts_words(node.value)) > 1:
            return True
        return bool(node.field) and not resolve(node.field).fulltext

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
        if not words:
            raise QueryError(f"{node.value!r} has no letters or digits to search for")
        if node.field:
            info = resolve(node.field)
            if not info.fulltext:   # a field outside the full-text index: substring, any case
                return self._contains(info.name, node.value)
            fields = (info.name,)
        else:
            fields = TEXT_FIELDS
        options = [self._text_in(f, node, words) for f in fields]
        if node.field is None and not node.phrase:
            options.append(self._key_lookup(node, words))
        return _bool(should=options, minimum_should_match=1)

    def _text_in(self, field: str, node: Text, words: list[str]) -> dict:
        text = " ".join(words)   # analysed by the field's own analyser: folded as it was indexed
        if node.prefix:   # every word but the last as a word, the last as the start of a word
            return {"match_bool_prefix": {field: {"query": text, "operator": "and"}}}
        match = {"match": {field: {"query": text, "operator": "and"}}}
        if not (node.phrase or len(words) > 1):
            return match
        # the words must also occur as written (case aside), like the embedded store's check
        return _bool(filter=[match, self._contains(field + ".raw", node.value)])

    @staticmethod
    def _contains(field: str, value: str) -> dict:
        return {"wildcard": {field: {"value": f"*{wildcard_escape(value)}*", "case_insensitive": True}}}

    def _key_lookup(self, node: Text, words: list[str]) -> dict:
        """A free word also finds events whose player, transaction, … id it is."""
        codes = [*self.key_fields.values()]
        tokens = [t for t in (self.key_token(code, node.value) for code in codes) if t]
        tokens = [fold(t) for t in tokens]
        if node.prefix:
            return _bool(should=[{"prefix": {"search_keys": t}} for t in tokens], minimum_should_match=1)
        if len(words) > 1:   # punctuated ids ("p-1001-x") must match as written
            return _bool(should=[{"term": {name: node.value}} for name in self.key_fields], minimum_should_match=1)
        return {"terms": {"search_keys": tokens}} if tokens else {"match_none": {}}

    def _typed(self, info: QueryField, value: str):
        return typed_value(info, value, self.now_ms)

    def _term(self, node: Term) -> dict:
        info = resolve(node.field)
        value = self._typed(info, node.value)
        if info.type == "long" and isinstance(value, float):
            return {"match_none": {}}     # a whole-number field never equals 1.5
        return {"term": {info.name: value}}

    def _prefix(self, node: Prefix) -> dict:
        return {"prefix": {resolve(node.field).name: node.value}}

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
