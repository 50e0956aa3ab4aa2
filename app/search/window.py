"""The window every control view and dashboard reads: a time range (`from`/`to`, the last 24
hours by default) and the reader's narrowing query, with the query text and search-page link that
find the same events. No Flask here."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..query import QueryError, parse
from ..query.timeexpr import parse_time
from ..storage import SearchRequest
from .params import auto_interval

Scope = Callable[[SearchRequest], SearchRequest]  # narrows a request to what the reader may see

DEFAULT_FROM = "now-24h"


@dataclass(frozen=True)
class Window:
    """The time window and the reader's narrowing query, as parsed from the page's arguments."""

    q: str
    raw_from: str
    raw_to: str
    start_ms: int
    end_ms: int  # exclusive
    now_ms: int

    def text(self, base: str) -> str:
        """The whole query of a page: its base narrowed by the reader's q (search-page syntax)."""
        if not self.q:
            return base
        if not base:
            return self.q
        return f"{group(base)} AND {group(self.q)}"

    def time_args(self) -> dict:
        """The window's `from`/`to` as URL arguments (for links to other pages)."""
        return {"from": self.raw_from, **({"to": self.raw_to} if self.raw_to else {})}

    def link(self, base: str) -> dict:
        """url_for arguments of the equivalent search on the search page."""
        args = {"q": self.text(base), "from": self.raw_from}
        if self.raw_to:
            args["to"] = self.raw_to
        return args

    def request(self, base: str, **options) -> SearchRequest:
        return SearchRequest(
            query=parse(self.text(base)), start_ms=self.start_ms, end_ms=self.end_ms, now_ms=self.now_ms, **options
        )

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms


def parse_window(args: Mapping[str, str], now_ms: int | None = None) -> Window:
    """`q`, `from` (default now-24h) and `to` (default now); QueryError names what is wrong.
    `q` is parsed on its own, so an error's position points into what the reader typed."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    q = (args.get("q") or "").strip()
    parse(q)
    raw_from = (args.get("from") or "").strip() or DEFAULT_FROM
    raw_to = (args.get("to") or "").strip()
    start = parse_time(raw_from, now, "from")
    end = parse_time(raw_to, now, "to") if raw_to else now + 1
    if start >= end:
        raise QueryError("from: must be before to", field="from")
    return Window(q=q, raw_from=raw_from, raw_to=raw_to, start_ms=start, end_ms=end, now_ms=now)


def default_window(now_ms: int | None = None) -> Window:
    return parse_window({}, now_ms)


def bounded_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: expected a whole number, got {raw!r}", field=name) from None
    if not low <= value <= high:
        raise QueryError(f"{name}: must be between {low:,} and {high:,}", field=name)
    return value


def group(text: str) -> str:
    """`text` in parentheses when it has an OR (AND binds tighter), so that it can be ANDed."""
    return f"({text})" if " OR " in f" {text.upper()} " else text


def histogram_width(window: Window) -> int:
    return auto_interval(window.start_ms, window.end_ms)
