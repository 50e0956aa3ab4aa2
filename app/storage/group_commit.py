"""Group commit: batches written at the same time by several threads of a process share one
commit, as LevelDB's writer queue does it.

Each batch joins a queue. The batch at the head writes itself and every batch queued behind it
(up to `max_items` items) in one go, then wakes them; each gets its own result, or the error.
A shipper's requests are small (the OpenTelemetry SDK exports 512 records at a time), and on
the embedded store a commit of 500 events costs several times the CPU per event of one of
10,000 (segment files and their merging): grouping lets many small requests cost what one
large one does, while every batch is still acknowledged only after its commit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .base import StoreError

R = TypeVar("R")


class Ticket(Generic[R]):
    """One batch in the queue: its items, its result, and whether it has been written."""

    __slots__ = ("done", "error", "items", "result")

    def __init__(self, items: list, result: R):
        self.items = items
        self.result = result
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[R]):
    def __init__(self, max_items: int):
        self.max_items = max_items
        self._queue: deque[Ticket[R]] = deque()
        self._cond = threading.Condition()
        self.groups = 0  # groups written (tests and benches read it)
        self.peak = 0  # the longest the queue has been since `depth()` was last asked

    def depth(self) -> tuple[int, int]:
        """(batches queued now, the most queued at once since the last call): the ingest status."""
        with self._cond:
            peak, self.peak = max(self.peak, len(self._queue)), 0
            return len(self._queue), peak

    def submit(self, items: list, result: R, write: Callable[[list[Ticket[R]]], None], lock: threading.RLock) -> R:
        """Write `items` (filling `result`) with whatever is queued alongside: `write(group)`
        is called once per group, holding `lock`, by the thread whose batch heads the queue."""
        ticket: Ticket[R] = Ticket(items, result)
        with self._cond:
            self._queue.append(ticket)
            if len(self._queue) > self.peak:
                self.peak = len(self._queue)
            while not ticket.done and self._queue[0] is not ticket:
                self._cond.wait()
        if not ticket.done:  # the head of the queue: write its group
            group = [ticket]
            try:
                with lock:
                    with self._cond:  # batches that queued while the lock was awaited join in
                        size = len(items)
                        for other in list(self._queue)[1:]:
                            if size + len(other.items) > self.max_items:
                                break
                            group.append(other)
                            size += len(other.items)
                    self.groups += 1
                    write(group)
            except BaseException as exc:
                for other in group[1:]:
                    other.error = (
                        exc
                        if isinstance(exc, StoreError)
                        else StoreError(f"storage error, nothing of this batch was stored: {exc}")
                    )
                raise
            finally:
                with self._cond:
                    for _ in group:
                        self._queue.popleft().done = True
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result


def writer_queue(store) -> Callable[[], tuple[int, int]] | None:
    """The depth probe of `store`'s group-commit queue (the embedded store has one), or None."""
    writes = getattr(store, "_writes", None)
    return writes.depth if isinstance(writes, GroupCommit) else None
