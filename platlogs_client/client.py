"""The client: `send()` queues, one background thread delivers. See the package docstring."""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from .diskqueue import DiskQueue, QueueBusy
from .events import encode, prepare
from .sender import Sender
from .transport import Transport

log = logging.getLogger("platlogs_client")

MAX_BATCH = 1000   # the server names at most 1,000 refused lines per answer
# the longest send() waits for the disk queue's lock when memory is full: other appends hold it
# (never an fsync), but under the GIL a holder may be descheduled for a switch interval (5 ms)
SPILL_WAIT = 0.05


class Client(Sender):
    """Ship events to Platform Logs in the background. Thread-safe; `send()` never waits on the
    network or the disk's fsync.

    url              the server, e.g. "http://logs.internal:8080" (a path prefix is kept)
    api_key          a key of scope `ingest` (`platlogs keys create --scope ingest`)
    batch_size       lines per request (at most 1,000)
    flush_interval   seconds an event may wait for its batch to fill
    queue_dir        a directory for the on-disk queue (one client per directory: a second one gets a
                     warning and queues in memory only); None: memory only
    queue_slots      with more than 1, the client takes the first free of queue_dir/slot-0 … slot-N-1
                     (one per pre-forked worker; a restarted worker delivers what its slot holds)
    max_queue_bytes  cap of the on-disk queue; past it the oldest events are dropped (counted)
    max_memory_events, max_memory_bytes  caps of the in-memory queue (10,000 events, 32 MiB);
                     past either, events spill to disk, or are dropped
    timeout          seconds per HTTP request
    min_backoff, max_backoff  bounds of the exponential backoff between retries (with jitter)
    max_retry_after  the longest `Retry-After` obeyed
    on_refused       called as on_refused(line: bytes, reason: str) for each event the server refused
                     (default: a rate-limited warning on the `platlogs_client` logger)
    atexit_timeout   seconds the interpreter's exit waits for delivery (then the rest goes to disk)
    """

    def __init__(self, url: str, api_key: str, *, batch_size: int = 500, flush_interval: float = 1.0,
                 queue_dir: str | None = None, max_queue_bytes: int = 256 << 20,
                 max_memory_events: int = 10_000, max_memory_bytes: int = 32 << 20, timeout: float = 10.0,
                 min_backoff: float = 0.5, max_backoff: float = 60.0, max_retry_after: float = 300.0,
                 compress: bool = True, ssl_context=None, on_refused: Callable[[bytes, str], None] | None = None,
                 atexit_timeout: float = 5.0, queue_slots: int = 1):
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_memory_events = max_memory_events
        self.max_memory_bytes = max_memory_bytes
        self.min_backoff, self.max_backoff, self.max_retry_after = min_backoff, max_backoff, max_retry_after
        self.on_refused = on_refused or self._warn_refused
        self.atexit_timeout = atexit_timeout
        self._transport_args = (url, api_key, dict(timeout=timeout, compress=compress, ssl_context=ssl_context))
        self._transport = Transport(url, api_key, timeout=timeout, compress=compress, ssl_context=ssl_context)
        self.queue_dir, self._disk = None, None
        if queue_dir:
            self._disk = self._claim_queue(queue_dir, queue_slots, max_queue_bytes)
        self._fresh_state()
        _CLIENTS.add(self)
        if self._disk is not None and not self._disk.empty():   # left by an earlier run: deliver it
            self._start()

    def _claim_queue(self, queue_dir: str, slots: int, max_bytes: int) -> DiskQueue | None:
        """The queue directory, or with `slots` > 1 the first free of <queue_dir>/slot-0 … slot-N-1
        (pre-forked workers: each takes a slot, a restarted worker the one its predecessor left,
        with what it left in it). None, with a warning, when every one is in use — e.g. a dev
        server's reloader and its child: the client keeps working, in memory."""
        paths = [queue_dir] if slots <= 1 else [os.path.join(queue_dir, f"slot-{i}") for i in range(slots)]
        for path in paths:
            try:
                disk = DiskQueue(path, max_bytes)
            except QueueBusy:
                continue
            self.queue_dir = path
            return disk
        log.warning("platlogs_client: %s in use by other clients; this client queues in memory only",
                    queue_dir if slots <= 1 else f"every one of the {slots} slots of {queue_dir}")
        return None

    def _fresh_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)     # the sender waits here for work
        self._settled = threading.Condition(self._lock)  # flush() waits here for an empty queue
        self._buffer: deque[bytes] = deque()
        self._buffer_bytes = 0
        self._oldest_at = 0.0
        self._inflight: list[bytes] = []   # lines taken from memory, not yet answered or moved to disk
        self._flushes = 0
        self._closing = False
        self._close_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._counts = dict(sent=0, duplicates=0, refused=0, dropped=0, retries=0, spilled=0)
        self.last_error = ""
        self._warned_at = 0.0
        self._unwarned = 0

    # -- the caller's side ----------------------------------------------------------------------

    def send(self, event: dict) -> bool:
        """Queue one event (a dict shaped like the schema). Never blocks and never raises for a
        bad event: returns False when it was dropped (queue full, client closed) or refused
        here (not JSON-encodable: NaN, too deep)."""
        if os.getpid() != self._pid:
            self._after_fork()
        try:
            line = encode(prepare(event))
        except Exception as exc:   # NaN, too deep, an object whose str() raises
            self._count("refused")
            self._report(b"", f"not encodable: {exc}")
            return False
        with self._lock:
            if self._closing:
                self._counts["dropped"] += 1
                return False
            if (len(self._buffer) < self.max_memory_events
                    and self._buffer_bytes + len(line) <= self.max_memory_bytes):
                first = not self._buffer
                if first:
                    self._oldest_at = time.monotonic()
                self._buffer.append(line)
                self._buffer_bytes += len(line)
                if first or len(self._buffer) == self.batch_size:   # start the clock / a full batch
                    self._wake.notify()
                started = self._thread is not None
                line = None
        if line is None:
            if not started:
                try:
                    self._start()
                except RuntimeError:   # interpreter shutdown: close() keeps the queue on disk
                    pass
            return True
        if self._disk is not None and self._disk.append([line], timeout=SPILL_WAIT):
            self._count("spilled")
            return True
        self._count("dropped")
        return False

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event (memory and disk) was answered by the server, at most
        `timeout` seconds. True when the queue is empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushes += 1
            self._wake.notify()
            try:
                while not self._idle():
                    if self._thread is None and self._buffer:
                        self._lock.release()
                        try:
                            self._start()
                        finally:
                            self._lock.acquire()
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._settled.wait(0.1 if left is None else min(left, 0.1))
                return True
            finally:
                self._flushes -= 1

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking events, deliver what is queued for at most `timeout` seconds, then keep
        the rest in the on-disk queue (or count it dropped). True when nothing was left."""
        with self._lock:
            if self._closing and self._thread is None:
                return self._idle()
            start = self._thread is None and not self._idle()
        if start:
            try:
                self._start()
            except RuntimeError:   # at interpreter shutdown no thread can start: the rest stays on disk
                pass
        with self._lock:
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 0.5)   # bounded: a request still in flight is kept on disk below
        self._keep_rest()
        if self._disk is not None and not (thread is not None and thread.is_alive()):
            self._disk.close()
        self._transport.close()
        _CLIENTS.discard(self)
        with self._lock:
            self._thread = None
            return self._idle()

    def stats(self) -> dict:
        """sent (stored or already stored), duplicates (of those, already stored), refused,
        dropped, retries, spilled (to disk while memory was full), queued (memory + in flight + disk)."""
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._buffer) + len(self._inflight) + (self._disk.total_lines if self._disk else 0)
            if self._disk is not None:
                out["dropped"] += self._disk.dropped
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers --------------------------------------------------------------------------------

    def _idle(self) -> bool:
        return not self._buffer and not self._inflight and (self._disk is None or self._disk.empty())

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closing:
                return
            thread = self._thread = threading.Thread(target=self._run, name="platlogs-client", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            with self._lock:
                self._thread = None
            raise

    def _after_fork(self) -> None:
        """In a forked child: a fresh, empty queue and no thread (started on the first send). The
        parent keeps and delivers what it had queued. The child does not use the parent's on-disk
        queue (one process per directory): it queues in memory only — give it a Client of its own
        with its own queue_dir if it needs one."""
        self._fresh_state()
        self._disk = None
        url, key, kwargs = self._transport_args
        self._transport = Transport(url, key, **kwargs)

    def _report(self, line: bytes, reason: str) -> None:
        try:
            self.on_refused(line, reason)
        except Exception:   # a callback's bug must not stop delivery
            log.exception("platlogs_client: on_refused raised")

    def _warn_refused(self, line: bytes, reason: str) -> None:
        now = time.monotonic()
        if now - self._warned_at < 10:
            self._unwarned += 1
            return
        more = f" (and {self._unwarned} more since the last warning)" if self._unwarned else ""
        self._warned_at, self._unwarned = now, 0
        log.warning("Platform Logs refused an event: %s%s: %.300s", reason, more,
                    line.decode("utf-8", "replace").strip())

# -- process-wide: exit and fork ---------------------------------------------------------------

_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for client in list(_CLIENTS):
        try:
            client.close(timeout=client.atexit_timeout)
        except Exception:
            pass


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
