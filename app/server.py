"""What `platlogs serve` puts around the app: gunicorn answers in JSON, and the app answers an
over-long URL itself before gunicorn's own limit is reached.

- gunicorn reads request lines up to LIMIT_REQUEST_LINE bytes (8190, its maximum short of
  "unlimited") and answers anything longer, or unparsable, with its own error page. Our worker
  class writes that answer as the app's JSON error instead (`{"error": {"status", "message"}}`),
  so an API client always gets JSON.
- `UrlLimit` answers 414 in JSON for a path and query over PLATLOGS_MAX_URL_BYTES (8000 by
  default, below gunicorn's limit), naming the limit, so the answer comes from the app in the
  ordinary case and gunicorn's is only the backstop.

Spreading ingest over the workers (one core each: Python work holds one process's GIL). gunicorn
keeps a kept-alive connection in the worker that accepted it, so two senders whose connections
landed in one worker used one core, the other worker idle (issue 12: 112.9 CPU-s against 0.2).
- After a heavy request (an ingest view calls `request_rebalance(environ)`: a body of at least
  `app.ingest.views.REBALANCE_ITEMS` items) the answer says `Connection: close`: the client's next
  batch comes on a new connection, which any worker may take. (gunicorn drops a `Connection`
  header set by the app, so `Rebalance` tells gunicorn's response object itself.)
- Which worker takes it: every worker is woken by a new connection; one that is working on a
  request waits BUSY_DEFER_S, one that has just finished a heavy request COOL_DEFER_S, an idle one
  not at all, before its `accept()` (which finds nothing when a sibling took the connection in
  the meantime). So an idle worker takes it, and a single client sending batch after batch
  alternates between the workers. A preference, not a refusal: with every worker busy the
  connection is still taken after that wait, so a long request (a 1 GB upload) locks nobody out.
  (SO_REUSEPORT listeners were not used: the kernel picks a worker by a hash of the addresses,
  blind to load, so two senders still share one worker half the time.)
"""

from __future__ import annotations

import threading
import time

import orjson
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

LIMIT_REQUEST_LINE = 8190
BUSY_DEFER_S = 0.008  # how long a worker in the middle of a request leaves a new connection to a sibling
COOL_DEFER_S = 0.002  # the same, for a worker that has just finished a heavy request
COOL_DOWN_S = 0.05  # ... "just": this long after it
_REBALANCE = "platlogs.rebalance"

_state = {"active": 0, "heavy_until": 0.0}  # this worker process: requests being worked on, cool until
_state_lock = threading.Lock()


def request_rebalance(environ: dict) -> None:
    """Called by a view whose request was heavy: end the connection after the answer, so the
    client's next request may go to an idle worker, and leave the next connection to a sibling."""
    environ[_REBALANCE] = True
    _state["heavy_until"] = time.monotonic() + COOL_DOWN_S


def accept_delay() -> float:
    """How long this worker waits before taking a new connection: 0 when idle; a little when it
    has just finished a heavy request (an idle sibling should take it); more when it is working
    on a request (a sibling that is only cooling down should take it)."""
    if _state["active"] > 0:
        return BUSY_DEFER_S
    return COOL_DEFER_S if time.monotonic() < _state["heavy_until"] else 0.0


def _json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = orjson.dumps({"error": {"status": status_int, "message": f"{reason}: {mesg}" if mesg else reason}})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


class JsonErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, answering the errors it raises itself in JSON, and leaving new
    connections to an idle sibling while it is busy (see the module's docstring)."""

    def init_process(self):
        util.write_error = _json_error  # this worker process serves only this app
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        self.wsgi = Rebalance(self.wsgi)

    def accept(self, listener):
        delay = accept_delay() if self.cfg.workers > 1 else 0.0
        if delay:  # a sibling woken by the same connection may take it in the meantime
            time.sleep(delay)
        super().accept(listener)  # then finds nothing (EAGAIN, ignored)


class Rebalance:
    """WSGI wrapper inside the worker. Counts the requests the app is working on (until it
    starts its answer: a live tail's stream then counts as idle, which it mostly is), and sends
    `Connection: close` with the answer to a request a view marked with `request_rebalance`
    (gunicorn drops a Connection header set by the app: its response object is told instead)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        working = [True]

        def done() -> None:
            if working[0]:
                working[0] = False
                with _state_lock:
                    _state["active"] -= 1

        def start(status, headers, exc_info=None):
            done()
            if environ.get(_REBALANCE):
                force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
                if force_close is not None:
                    force_close()
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        with _state_lock:
            _state["active"] += 1
        try:
            return self.app(environ, start)
        finally:
            done()


class UrlLimit:
    """WSGI middleware: 414 in JSON for a request target (path and query) over `limit` bytes."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        target = environ.get("RAW_URI") or (environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
        if len(target) > self.limit:
            body = orjson.dumps(
                {
                    "error": {
                        "status": 414,
                        "message": (
                            f"URL is {len(target)} bytes, over the limit of {self.limit} (PLATLOGS_MAX_URL_BYTES): "
                            "shorten the query, or save it as a search"
                        ),
                    }
                }
            )
            start_response("414 URI Too Long", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)
