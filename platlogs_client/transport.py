"""One batch to `POST /api/v1/events/bulk` and what the answer means for each line.

The server's contract (app/ingest/views.py, docs/ingest.md): NDJSON, gzip allowed; the answer is
`{"accepted", "rejected", "duplicates", "errors": [{"line": N, "reason": ...}]}` with status 200
(all stored), 207 (some refused), 400 / 413 (none stored, reasons per line) or 503 (the store
failed: the lines named in `errors` were not stored, `Retry-After` says when to try again).
Lines not named in `errors` were stored. `errors` lists at most 1,000 lines, so batches are kept
to 1,000 lines or fewer.

What the client does with each line:
- stored (or a duplicate of a stored one): done;
- named in `errors` of a 200/207/400/413 answer: refused as bad — counted, reported, not resent;
- named in `errors` of a 503 answer, or the whole batch on a connection error, a timeout, 408,
  429, any other 5xx, 401/403/404 (a key or address problem, not the event's): resent later,
  with backoff. Resending is safe: every line carries its `event.id` and `@timestamp`;
- other 4xx without a per-line report (415, 414, 400 on the body): the batch is refused;
- 413 without a report (a proxy's body limit): the batch is split in halves and retried.
"""
from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

BULK_PATH = "/api/v1/events/bulk"
RETRY_STATUSES = {401, 403, 404, 408, 425, 429}


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    refused: list = field(default_factory=list)   # (index in batch, reason)
    retry: list = field(default_factory=list)     # indexes to send again later
    retry_after: float | None = None              # seconds the server asked for
    split: bool = False                           # too large for a proxy: send in halves
    error: str = ""                               # why the batch (or part) was not stored


def bulk_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be http(s)://host[:port][/prefix], got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith(BULK_PATH):
        path += BULK_PATH
    return parts._replace(path=path)


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    def __init__(self, url: str, api_key: str, *, timeout: float = 10.0, compress: bool = True,
                 ssl_context: ssl.SSLContext | None = None, user_agent: str = "platlogs-client"):
        self.target = bulk_url(url)
        self.timeout = timeout
        self.compress = compress
        self.ssl_context = ssl_context
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/x-ndjson",
                        "User-Agent": user_agent}
        if compress:
            self.headers["Content-Encoding"] = "gzip"
        self._conn: http.client.HTTPConnection | None = None
        self._used = False   # the connection has carried a request: the server may have closed it since

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.target.hostname, self.target.port
            if self.target.scheme == "https":
                self._conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                                         context=self.ssl_context)
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self._used = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def post(self, lines: list[bytes]) -> Outcome:
        body = b"".join(lines)
        if self.compress:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        path = self.target.path + (f"?{self.target.query}" if self.target.query else "")
        for attempt in (0, 1):
            conn = self._connection()
            reused = self._used
            try:
                conn.request("POST", path, body=body, headers=self.headers)
                self._used = True
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # a kept-alive connection the server closed while idle: try once more at once
                if attempt == 0 and reused and isinstance(exc, (http.client.RemoteDisconnected,
                                                                ConnectionResetError, BrokenPipeError)):
                    continue
                return Outcome(retry=list(range(len(lines))), error=_describe(exc))
            if response.will_close:
                self.close()
            return judge(response.status, data, response.getheader("Retry-After"), len(lines))
        raise AssertionError("unreachable")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def judge(status: int, data: bytes, retry_after: str | None, count: int) -> Outcome:
    """What an answer means for each of the `count` lines sent."""
    try:
        answer = json.loads(data) if data else None
    except ValueError:
        answer = None
    report = answer if isinstance(answer, dict) and "accepted" in answer else None
    every = list(range(count))
    wait = retry_after_seconds(retry_after)
    if report is not None and status in (200, 207, 400, 413, 503):
        named: dict[int, str] = {}
        for error in report.get("errors") or []:
            if isinstance(error, dict) and isinstance(error.get("line"), int) and 1 <= error["line"] <= count:
                named[error["line"] - 1] = str(error.get("reason", "refused"))
        outcome = Outcome(accepted=int(report.get("accepted") or 0), duplicates=int(report.get("duplicates") or 0),
                          retry_after=wait)
        if status == 503:
            outcome.retry = sorted(named)
            outcome.error = f"503: {next(iter(named.values()), 'store unavailable')}"
        else:
            outcome.refused = sorted(named.items())
        if report.get("errors_truncated"):   # lines past the list's end: their fate is unknown, resend (idempotent)
            outcome.retry = sorted(set(outcome.retry) | (set(every) - set(named)))
        return outcome
    message = _message(answer, data)
    if status in (200, 207):   # a 2xx without a report (a proxy?): taken as stored
        return Outcome(accepted=count)
    if status == 413:
        return Outcome(split=True, error=f"413: {message}")
    if status in RETRY_STATUSES or status >= 500:
        return Outcome(retry=every, retry_after=wait, error=f"{status}: {message}")
    return Outcome(refused=[(i, f"{status}: {message}") for i in every], error=f"{status}: {message}")


def _message(answer, data: bytes) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message", ""))[:500]
    return data[:200].decode("utf-8", "replace").strip() or "no body"
