"""What `platlogs serve` puts around the app: gunicorn answers in JSON, and the app answers an
over-long URL itself before gunicorn's own limit is reached.

- gunicorn reads request lines up to LIMIT_REQUEST_LINE bytes (8190, its maximum short of
  "unlimited") and answers anything longer, or unparsable, with its own error page. Our worker
  class writes that answer as the app's JSON error instead (`{"error": {"status", "message"}}`),
  so an API client always gets JSON.
- `UrlLimit` answers 414 in JSON for a path and query over PLATLOGS_MAX_URL_BYTES (8000 by
  default, below gunicorn's limit), naming the limit, so the answer comes from the app in the
  ordinary case and gunicorn's is only the backstop.
"""
from __future__ import annotations

import orjson
from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

LIMIT_REQUEST_LINE = 8190


def _json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = orjson.dumps({"error": {"status": status_int, "message": f"{reason}: {mesg}" if mesg else reason}})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


class JsonErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, answering the errors it raises itself in JSON."""

    def init_process(self):
        util.write_error = _json_error   # this worker process serves only this app
        super().init_process()


class UrlLimit:
    """WSGI middleware: 414 in JSON for a request target (path and query) over `limit` bytes."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        target = environ.get("RAW_URI") or (environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", ""))
        if len(target) > self.limit:
            body = orjson.dumps({"error": {"status": 414, "message": (
                f"URL is {len(target)} bytes, over the limit of {self.limit} (PLATLOGS_MAX_URL_BYTES): "
                "shorten the query, or save it as a search")}})
            start_response("414 URI Too Long", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)
