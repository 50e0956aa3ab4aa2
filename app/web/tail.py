"""Live tail: new events matching a query, streamed to the page as Server-Sent Events.

The stream polls the store once a second for events newer than the last one sent and sends at
most RATE_CAP per second — the newest of them, with a count of those left out — so a flood
cannot freeze the browser. It ends after STREAM_SECONDS; the browser's EventSource reconnects
by itself and resumes after the last event it got (Last-Event-ID). Events follow event time:
one that arrives with a timestamp older than the last event sent is not tailed."""

from __future__ import annotations

import time

import orjson
from flask import Response, current_app, render_template, request, stream_with_context

from ..auth import page_access
from ..errors import ApiError
from ..query import QueryError, parse
from ..query.timeexpr import parse_time
from ..storage import SearchRequest
from . import presenting, reading, web

RATE_CAP = 50  # events per poll (one poll a second)
POLL_SECONDS = 1.0
STREAM_SECONDS = 300
KEEPALIVE_SECONDS = 15
TAIL_COLUMNS = ("@timestamp", "log.level", "event.component", "event.type", "service.name", "actor.id", "message")


@web.get("/tail")
@page_access("live_tail")
def tail():
    q = request.args.get("q", "")
    error = None
    try:
        reading.scoped(SearchRequest(query=parse(q)))
    except QueryError as exc:
        error = exc
    return render_template("tail.html", q=q, error=error, columns=TAIL_COLUMNS, cap=RATE_CAP)


def _row(event: dict) -> dict:
    """What the page shows of one event: plain strings, set as text by the script."""
    return {
        "id": event.get("event", {}).get("id"),
        "level": event.get("log", {}).get("level", "info"),
        "cells": [presenting.cell(event, c)[:500] for c in TAIL_COLUMNS],
    }


def _since(last_event_id: str | None) -> tuple[int, set[str]]:
    """Resume point from the Last-Event-ID the browser sends on reconnect: "<ts>:<id>,<id>"."""
    if last_event_id:
        ts, _, ids = last_event_id.partition(":")
        if ts.isdigit():
            return int(ts), set(filter(None, ids.split(",")))
    return int(time.time() * 1000), set()


@web.get("/tail/stream")
@page_access("live_tail")
def tail_stream():
    try:
        query = parse(request.args.get("q", ""))
        reading.scoped(SearchRequest(query=query))  # before the first byte, not mid-stream
    except QueryError as exc:
        raise ApiError(400, exc.message, **{k: v for k, v in exc.as_dict().items() if k != "message"}) from None
    store = current_app.extensions["platlogs"].store
    since, seen = _since(request.headers.get("Last-Event-ID") or request.args.get("after"))
    try:  # once now: a query the store refuses (too large for OpenSearch…) is a 400, not a broken stream
        store.search(reading.scoped(SearchRequest(query=query, start_ms=since, size=0, total_bound=0)))
    except QueryError as exc:
        raise ApiError(400, exc.message, **{k: v for k, v in exc.as_dict().items() if k != "message"}) from None
    reading.record_search("tail", request.args.get("q", ""), SearchRequest(start_ms=since), 0)
    scope, show = reading.scoped, reading.shown_all  # bound now: the generator runs after the request

    def stream():
        nonlocal since, seen
        yield "retry: 2000\n\n"
        started = last_write = time.monotonic()
        while time.monotonic() - started < STREAM_SECONDS:
            result = store.search(
                scope(SearchRequest(query=query, start_ms=since, size=RATE_CAP, newest_first=True, total_bound=10_000))
            )
            fresh = [h for h in result.hits if h["event"]["id"] not in seen]
            if fresh:
                newest = result.hits[0]["@timestamp"]
                skipped = max(0, result.total - len(result.hits)) if len(result.hits) == RATE_CAP else 0
                stamps = [event_ms(h) for h in result.hits]
                since = max(stamps)
                seen = {h["event"]["id"] for h, ts in zip(result.hits, stamps, strict=True) if ts == since}
                payload = {"events": [_row(e) for e in reversed(show(fresh))], "skipped": skipped, "newest": newest}
                yield f"id: {since}:{','.join(sorted(seen))[:2000]}\ndata: {orjson.dumps(payload).decode()}\n\n"
                last_write = time.monotonic()
            elif time.monotonic() - last_write > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
            time.sleep(POLL_SECONDS)

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def event_ms(event: dict) -> int:
    return parse_time(event["@timestamp"], 0)
