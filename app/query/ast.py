"""The query AST: small frozen dataclasses, the one thing every query compiler reads.

Field names in the AST are resolved schema fields (see fields.py): a compiler never sees a
name the schema does not know. A leaf's `pos` is where its value starts in the query string (for
errors found after parsing, e.g. a role's restrictions); it takes no part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field as _field


class QueryError(ValueError):
    """A query that cannot run. `position` is a 0-based offset into the query string (when the
    problem has a place), `expected` what would have been valid there."""

    def __init__(self, message: str, position: int | None = None, expected: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.position = position
        self.expected = expected
        self.field = field

    def as_dict(self) -> dict:
        out: dict = {"message": self.message}
        if self.position is not None:
            out["position"] = self.position
        if self.expected:
            out["expected"] = self.expected
        if self.field:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class MatchAll:
    """The empty query: every event in the time window."""


@dataclass(frozen=True)
class Text:
    """Free text. A word matches events whose full-text fields contain it (a trailing * makes it
    a prefix); a phrase (quoted) matches those words in this order, next to each other.
    `field` limits it to one full-text field (message:timeout), else all full-text fields."""

    value: str
    phrase: bool = False
    prefix: bool = False
    field: str | None = None
    pos: int | None = _field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Term:
    """field:value — exact value of a keyword, number, ip, boolean or date field."""

    field: str
    value: str
    pos: int | None = _field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Prefix:
    """field:val* — a keyword field's value starts with `value`."""

    field: str
    value: str
    pos: int | None = _field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Range:
    """field:>=x, field:<x, field:[a TO b], field:{a TO b}; an open end is None."""

    field: str
    low: str | None = None
    high: str | None = None
    include_low: bool = True
    include_high: bool = True
    pos: int | None = _field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Exists:
    """field:* — the field (or any field of a namespace such as `error`) is present."""

    field: str
    pos: int | None = _field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = MatchAll | Text | Term | Prefix | Range | Exists | And | Or | Not
