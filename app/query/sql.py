"""Compile a query AST to an SQL condition over one day partition of the embedded store.

The condition is a template: `__DAY__` stands for the partition (ev___DAY__, fts___DAY__) and
every value is a bound parameter. Full text and exact key lookups go through the partition's
FTS5 table (columns `message`, `body`, `keys`; see app/storage/sqlite.py); because that table
keeps no token positions, phrases and multi-token words are matched word by word in FTS and
then verified on the stored text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from .fields import NAMESPACE, QueryField, resolve
from .timeexpr import parse_time

DAY = "__DAY__"
LO, HI = "__LO__", "__HI__"  # the partition's rowid window, pushed down into FTS lookups
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: what FTS5's unicode61 keeps as tokens


@dataclass
class Compiled:
    sql: str
    params: list = field(default_factory=list)
    uses_fts: bool = False  # whether an FTS lookup can drive the query (rare matches)
    pure_match: str | None = None  # the whole query is this one FTS MATCH: counted without the events


@dataclass(frozen=True)
class KeyIndex:
    """How the store indexes exact values as FTS tokens: `token(code, value)` and each column's code."""

    codes: dict[str, str]  # id columns -> token code (a free word is looked up among these too)
    token: Callable[[str, str], str | None]  # (code, value) -> the FTS token, or None
    id_code: str
    filters: dict[str, str] = field(default_factory=dict)  # other columns -> code (field:value only)
    exact: frozenset = frozenset()  # columns whose values are lower-case words (enums): token == value


def json_path(path: tuple[str, ...]) -> str:
    return "$." + ".".join('"' + p.replace('"', '""') + '"' for p in path)


def fts_words(text: str) -> list[str]:
    return _WORD.findall(text)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


class SQLCompiler:
    def __init__(self, keys: KeyIndex, now_ms: int):
        self.keys = keys
        self.now_ms = now_ms

    def compile(self, node: Node) -> Compiled:
        return self._node(node)

    # -- structure --------------------------------------------------------------------

    def _node(self, node: Node) -> Compiled:
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def _matchall(self, node: MatchAll) -> Compiled:
        return Compiled("1")

    def _and(self, node: And) -> Compiled:
        parts = [self._node(item) for item in node.items]
        return self._merged(parts, "AND") or Compiled(
            "(" + " AND ".join(p.sql for p in parts) + ")",
            [x for p in parts for x in p.params],
            any(p.uses_fts for p in parts),
        )

    def _or(self, node: Or) -> Compiled:
        parts = [self._node(item) for item in node.items]
        return self._merged(parts, "OR") or Compiled(
            "(" + " OR ".join(p.sql for p in parts) + ")",
            [x for p in parts for x in p.params],
            all(p.uses_fts for p in parts),
        )

    def _merged(self, parts: list[Compiled], operator: str) -> Compiled | None:
        """Parts that are each one FTS MATCH become a single MATCH (one index lookup, still
        counted and bucketed from the index alone) — `log.level:(error OR critical)`."""
        if len(parts) < 2 or not all(p.pure_match for p in parts):
            return None
        match = f" {operator} ".join(f"({p.pure_match})" for p in parts)
        return Compiled(self._fts(), [match], uses_fts=True, pure_match=match)

    def _not(self, node: Not) -> Compiled:
        inner = self._node(node.item)
        # IS NOT 1: an event without the field is "not field:value" (SQL's NULL would drop it)
        return Compiled(f"(({inner.sql}) IS NOT 1)", inner.params)

    # -- leaves -----------------------------------------------------------------------

    @staticmethod
    def _fts() -> str:
        """Rows whose FTS entry matches the bound MATCH expression."""
        return f"rowid IN (SELECT rowid FROM fts_{DAY} WHERE fts_{DAY} MATCH ? AND rowid >= {LO} AND rowid < {HI})"

    def _text(self, node: Text) -> Compiled:
        words = fts_words(node.value)
        if not words:
            raise QueryError(f"{node.value!r} has no letters or digits to search for")
        target = "{message body}"
        checks = ["$.message", "$.error.message"]
        if node.field:
            info = resolve(node.field)
            if not info.fulltext:  # stored but not in the full-text index: scan that field
                return Compiled("(instr(lower(json_extract(doc, ?)), ?) > 0)", [json_path(info.path), node.value.lower()])
            target = "message" if node.field == "message" else "body"
            checks = [json_path(info.path)]
        terms = [_quote(w) for w in words]
        if node.prefix:
            terms[-1] += " *"
        text_match = f"{target}: (" + " AND ".join(terms) + ")"
        needs_check = node.phrase or len(words) > 1
        if node.field is None and not node.phrase:
            # a free word is also looked up among the exact keys (player, transaction, … ids)
            tokens = [self.keys.token(code, node.value) for code in (*self.keys.codes.values(), self.keys.id_code)]
            key_terms = [_quote(t) + (" *" if node.prefix else "") for t in tokens if t]
            match = f"({text_match})" + (f" OR (keys: ({' OR '.join(key_terms)}))" if key_terms else "")
        else:
            match = text_match
        sql, params = self._fts(), [match]
        if needs_check and not node.prefix:
            needle = node.value.lower()
            text_checks = ["instr(lower(json_extract(doc, ?)), ?) > 0" for _ in checks]
            text_params = [x for path in checks for x in (path, needle)]
            key_checks, key_params = [], []
            if node.field is None and not node.phrase:
                key_checks = [f"{column} = ?" for column in self.keys.codes] + ["id = ?"]
                key_params = [node.value] * len(key_checks)
            sql = f"({sql} AND ({' OR '.join(text_checks + key_checks)}))"
            params += text_params + key_params
            return Compiled(sql, params, uses_fts=True)
        return Compiled(sql, params, uses_fts=True, pure_match=match)

    @staticmethod
    def _value_expr(info: QueryField) -> tuple[str, list]:
        """SQL for the field's value, and its parameters (paths are bound too: label keys are user input)."""
        if info.name == "@timestamp":
            return "ts", []
        if info.column:
            return info.column, []
        return "json_extract(doc, ?)", [json_path(info.path)]

    def _typed(self, info: QueryField, value: str):
        if info.type == "long":
            try:
                return int(value)
            except ValueError:
                return float(value)
        if info.type == "double":
            return float(value)
        if info.type == "boolean":
            return 1 if value.lower() == "true" else 0
        if info.type == "date":
            ms = parse_time(value, self.now_ms, info.name)
            if info.name == "@timestamp":
                return ms
            from ..events.convert import format_ts

            return format_ts(ms)
        return value

    def _term(self, node: Term) -> Compiled:
        info = resolve(node.field)
        if info.type == "tags":
            return Compiled("EXISTS (SELECT 1 FROM json_each(doc, ?) WHERE value = ?)", [json_path(info.path), node.value])
        if info.name == "changes.field":
            return Compiled(
                "EXISTS (SELECT 1 FROM json_each(doc, '$.changes') WHERE json_extract(value, '$.field') = ?)", [node.value]
            )
        expr, params = self._value_expr(info)
        value = self._typed(info, node.value)
        code = (self.keys.codes.get(info.column) or self.keys.filters.get(info.column)) if info.column else None
        token = self.keys.token(code, node.value) if code else None
        if token:
            match = f"keys: {_quote(token)}"
            if info.column in self.keys.exact and code is not None and token == code + node.value:
                # an enum's value is a lower-case word: its token matches exactly that value
                return Compiled(self._fts(), [match], uses_fts=True, pure_match=match)
            return Compiled(f"({self._fts()} AND {expr} = ?)", [match, *params, value], uses_fts=True)
        return Compiled(f"({expr} = ?)", [*params, value])

    def _prefix(self, node: Prefix) -> Compiled:
        info = resolve(node.field)
        if info.type == "tags":
            return Compiled(
                "EXISTS (SELECT 1 FROM json_each(doc, ?) WHERE substr(value, 1, ?) = ?)",
                [json_path(info.path), len(node.value), node.value],
            )
        expr, params = self._value_expr(info)
        return Compiled(f"(substr({expr}, 1, ?) = ?)", [*params, len(node.value), node.value])

    def _range(self, node: Range) -> Compiled:
        info = resolve(node.field)
        expr, path_params = self._value_expr(info)
        parts, params = [], []
        if node.low is not None:
            parts.append(f"{expr} {'>=' if node.include_low else '>'} ?")
            params += [*path_params, self._typed(info, node.low)]
        if node.high is not None:
            parts.append(f"{expr} {'<=' if node.include_high else '<'} ?")
            params += [*path_params, self._typed(info, node.high)]
        if not parts:
            return self._exists(Exists(node.field))
        return Compiled("(" + " AND ".join(parts) + ")", params)

    def _exists(self, node: Exists) -> Compiled:
        info = resolve(node.field)
        if info.name == "@timestamp":
            return Compiled("1")
        if info.column and info.type != NAMESPACE:
            return Compiled(f"({info.column} IS NOT NULL)")
        return Compiled("(json_type(doc, ?) IS NOT NULL)", [json_path(info.path)])
