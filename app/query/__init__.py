"""The query language: a query string -> AST (parser.py) -> a backend's query (sql.py, later dsl.py)."""

from .ast import And, Exists, MatchAll, Node, Not, Or, Prefix, QueryError, Range, Term, Text
from .parser import parse

__all__ = ["And", "Exists", "MatchAll", "Node", "Not", "Or", "Prefix", "QueryError", "Range", "Term", "Text", "parse"]
