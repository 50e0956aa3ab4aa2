"""The query language: a query string -> AST (parser.py) -> a backend's query (sql.py, later dsl.py)."""
from .ast import And, Exists, Not, Or, Prefix, QueryError, Range, Term, Text, MatchAll, Node
from .parser import parse

__all__ = ["And", "Exists", "Not", "Or", "Prefix", "QueryError", "Range", "Term", "Text", "MatchAll", "Node", "parse"]
