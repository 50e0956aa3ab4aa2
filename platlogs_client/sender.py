"""The sender thread of a Client: takes batches from the disk queue and memory, posts them,
sorts each answer into done / refused / retry, and moves memory to disk while the server is away.

A mixin of `Client` (platlogs_client/client.py), which owns the state it reads: the lock and its
two conditions, the in-memory buffer, the in-flight lines, the counters, the disk queue and the
transport. Retry policy: platlogs_client/transport.py (what each answer means) and `_backoff`.
"""
from __future__ import annotations

import logging
import random
import time

from .transport import Outcome

log = logging.getLogger("platlogs_client")
CHUNK = 500   # lines the sender appends to the disk queue under one hold of its lock


class Sender:
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.max_backoff, self.min_backoff * 2 ** min(attempt - 1, 30))
        delay = delay / 2 + random.uniform(0, delay / 2)   # "equal jitter": never 0, never in lockstep
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    # -- the sender thread ----------------------------------------------------------------------

    def _run(self) -> None:
        attempt, not_before, warned_at = 0, 0.0, 0.0
        pending: list[bytes] = []          # a memory batch to retry (no disk queue)
        segment = None                     # (seq, lines, position) from disk
        while True:
            try:
                now = time.monotonic()
                with self._lock:
                    closing, deadline = self._closing, self._close_deadline
                if closing and (now >= deadline or (not pending and segment is None and self._idle())):
                    break
                if now < not_before:       # the server is away: keep memory safe on disk, then wait
                    if self._disk is not None:
                        self._spill(pending)
                        pending = []
                    with self._lock:
                        if self._closing and not_before > self._close_deadline:
                            break
                        self._wake.wait(min(not_before - now, 0.5))
                    continue
                batch, source = self._next_batch(pending, segment)
                if batch is None:
                    continue
                if source == "disk" and segment is None:
                    segment = batch
                lines = pending if source == "memory-retry" else (
                    segment[1][segment[2]:segment[2] + self.batch_size] if source == "disk" else batch)
                outcome = self._deliver(lines)
                retry = [lines[i] for i in outcome.retry]
                if retry:
                    attempt += 1
                    self._count("retries")
                    delay = self._backoff(attempt, outcome.retry_after)
                    not_before = time.monotonic() + delay
                    self.last_error = outcome.error
                    if attempt == 1 or time.monotonic() - warned_at >= 60:   # say so, at most once a minute
                        warned_at = time.monotonic()
                        log.warning("platlogs_client: delivery to %s failed (%s); retry %d in %.1f s",
                                    self._transport.target.netloc, outcome.error, attempt, delay)
                else:
                    if attempt:
                        log.warning("platlogs_client: delivery to %s works again after %d retries",
                                    self._transport.target.netloc, attempt)
                    attempt = 0
                if source == "disk":
                    seq, all_lines, pos = segment
                    if retry:   # resend the whole rest of the segment later (repeats are duplicates)
                        continue
                    pos += len(lines)
                    if pos >= len(all_lines):
                        self._disk.done(seq)
                        segment = None
                    else:
                        segment = (seq, all_lines, pos)
                    self._notify_settled()
                    continue
                if retry and self._disk is not None:
                    self._append_to_disk(retry)
                    self._disk.sync()
                    retry = []
                with self._lock:
                    self._inflight = retry
                    self._settled.notify_all()
                pending = retry
            except Exception:   # never let the sender die: log, pause, go on
                log.exception("platlogs_client: sender error")
                time.sleep(min(self.max_backoff, 1.0))
        self._transport.close()

    def _next_batch(self, pending, segment):
        """The next lines to send: an unfinished disk segment, a memory batch to retry, the oldest
        disk segment, or a memory batch once full, old enough, or asked for by flush/close."""
        if segment is not None:
            return segment, "disk"
        if pending:
            return pending, "memory-retry"
        if self._disk is not None and not self._disk.empty():
            found = self._disk.oldest()
            if found is not None:
                if not found[1]:   # nothing readable in it
                    self._disk.done(found[0])
                    return None, None
                return (found[0], found[1], 0), "disk"
        with self._lock:
            count = len(self._buffer)
            if count == 0 and self._closing:   # close() came after the loop's check: go round again
                return None, None
            if count == 0 or (count < self.batch_size and not self._flushes and not self._closing
                              and time.monotonic() - self._oldest_at < self.flush_interval):
                wait = self.flush_interval if count == 0 else \
                    self.flush_interval - (time.monotonic() - self._oldest_at)
                self._settled.notify_all()
                self._wake.wait(max(0.001, wait))
                return None, None
            batch = [self._buffer.popleft() for _ in range(min(count, self.batch_size))]
            self._buffer_bytes -= sum(map(len, batch))
            self._oldest_at = time.monotonic()
            self._inflight = batch
        return batch, "memory"

    def _deliver(self, lines: list[bytes]) -> Outcome:
        outcome = self._transport.post(lines)
        if outcome.split:   # a proxy's body limit: halves, down to one line (then refused)
            if len(lines) == 1:
                outcome = Outcome(refused=[(0, outcome.error)])
            else:
                half = len(lines) // 2
                first, second = self._deliver(lines[:half]), self._deliver(lines[half:])
                outcome = Outcome(
                    accepted=first.accepted + second.accepted, duplicates=first.duplicates + second.duplicates,
                    refused=first.refused + [(i + half, r) for i, r in second.refused],
                    retry=first.retry + [i + half for i in second.retry],
                    retry_after=max(first.retry_after or 0, second.retry_after or 0) or None,
                    error=first.error or second.error)
        with self._lock:
            self._counts["sent"] += outcome.accepted
            self._counts["duplicates"] += outcome.duplicates
            self._counts["refused"] += len(outcome.refused)
        for index, reason in outcome.refused:
            self._report(lines[index], reason)
        return outcome

    def _spill(self, pending: list[bytes]) -> None:
        """Move a batch waiting for retry and everything in memory to the disk queue (fsynced)."""
        with self._lock:
            lines = list(pending) + list(self._buffer)
            self._buffer.clear()
            self._buffer_bytes = 0
            self._inflight = []
        if lines:
            self._append_to_disk(lines)
            self._disk.sync()

    def _keep_rest(self) -> None:
        """At close: what is still in memory goes to disk, or is counted dropped."""
        with self._lock:   # a batch still in flight is kept too: if the server stored it, the
            lines = self._inflight + list(self._buffer)   # next run's copy is a duplicate
            self._buffer.clear()
            self._buffer_bytes = 0
            self._inflight = []
        if self._disk is not None:
            if lines:
                self._append_to_disk(lines)
            self._disk.sync()
        else:
            self._count("dropped", len(lines))

    def _notify_settled(self) -> None:
        with self._lock:
            self._settled.notify_all()

    def _append_to_disk(self, lines: list[bytes]) -> None:
        """In steps of CHUNK lines, so a caller spilling meanwhile waits for one step at most."""
        for i in range(0, len(lines), CHUNK):
            self._disk.append(lines[i:i + CHUNK])
