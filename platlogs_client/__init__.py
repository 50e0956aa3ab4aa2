"""platlogs_client: send events and Python log records to Platform Logs.

Standard library only (no Flask, nothing of the server's `app` package): copy this directory
into any Python 3.9+ service (tested on 3.11), or install the project.

    import logging
    from platlogs_client import PlatformLogsHandler

    handler = PlatformLogsHandler(url="http://logs.internal:8080", api_key="plk_…",
                                  service="wallet", environment="production",
                                  queue_dir="/var/lib/wallet/platlogs-queue")
    logging.getLogger().addHandler(handler)
    logging.getLogger("wallet").info("deposit approved", extra={
        "actor": {"type": "player", "id": "p-1842"},            # a schema namespace: kept as fields
        "payment.transaction_id": "tx-9", "payment.amount": 25.0,  # dotted keys too
        "order_ref": "A-17"})                                    # anything else: labels.order_ref

Or events shaped like the schema (app/events/schema.yaml), without logging:

    from platlogs_client import Client
    client = Client("http://logs.internal:8080", "plk_…")
    client.send({"message": "login", "event": {"action": "login"}, "actor": {"type": "player", "id": "p-1"}})
    client.close()          # or let the interpreter's exit flush it (atexit, bounded wait)

How it behaves
- `send()` never blocks the caller: it encodes the event and appends it to a bounded in-memory
  queue (`max_memory_events`). When that is full, the event is appended to the on-disk queue
  (`queue_dir`), else dropped and counted.
- One background thread sends batches (`batch_size` lines, or what has waited `flush_interval`
  seconds) to `POST /api/v1/events/bulk` as gzipped NDJSON, over a kept-alive connection.
- Every event gets `event.id` (a ULID) and `@timestamp` before it is queued, and the same bytes
  are re-sent on a retry, so a retry after a lost answer is counted by the server as a duplicate,
  not stored twice.
- Connection errors, timeouts, 408, 429, 5xx (and 401/403/404, a configuration problem) are
  retried with exponential backoff and jitter (`min_backoff`..`max_backoff`; a `Retry-After` is
  obeyed up to `max_retry_after`). Events the server refuses as bad (a per-line error in a
  200/207/400/413 answer) are counted in `refused`, passed to `on_refused(line, reason)` (default:
  a rate-limited warning on the `platlogs_client` logger), and never re-sent.
- While the server is away, queued events move to the on-disk queue (segment files, fsynced,
  at most `max_queue_bytes`: the oldest are dropped and counted beyond). It survives a restart of
  the process: a new Client on the same `queue_dir` delivers it. One client per directory (a
  second one warns and queues in memory only).
- `flush(timeout)` waits until everything queued was answered; `close(timeout)` stops taking
  events, delivers for at most `timeout` seconds, and keeps the rest on disk. At interpreter exit
  every open client is closed with `atexit_timeout` (5 s).
- After `os.fork()` the child starts with an empty in-memory queue and its own thread (on its
  first send); the parent delivers what it had queued. The child does not use the parent's
  `queue_dir`: it queues in memory only. For pre-forking servers (gunicorn `--preload`), create
  the client (or handler) in each worker (`post_fork`) with `queue_slots=<workers>`: each takes a
  free `queue_dir/slot-N`, a replacement worker the one its predecessor left.
- `stats()`: sent, duplicates, refused, dropped, retries, spilled, queued.

Details: docs/shippers.md ("Python").
"""
from .client import Client
from .handler import PlatformLogsHandler

__all__ = ["Client", "PlatformLogsHandler"]
__version__ = "0.1.0"
