"""The on-disk queue: events kept while the server is away, across process restarts.

A directory of segment files, each a run of NDJSON lines exactly as they are sent (each event
already carries its client-side `event.id` and `@timestamp`, so re-sending a line is idempotent):

    <dir>/lock                       held (POSIX lockf) by the one process using the directory
    <dir>/0000000000000042.part      the segment being written (appends only)
    <dir>/0000000000000041.ndjson    sealed segments: fsynced, renamed, read oldest first

A segment is sealed when it reaches `segment_bytes` or when the sender wants to read it: its file
is fsynced, renamed from `.part` to `.ndjson`, and the directory fsynced. Sealed segments are
never written again, so reading one needs no lock. A segment is deleted once every line of it
was answered by the server. A crash mid-segment re-sends the whole segment on the next start: the
server counts the repeats as duplicates, not as new events.

The total size is capped (`max_bytes`): an append that would pass it deletes the oldest sealed
segments (their lines counted as dropped); when nothing sealed can go, the new lines are
dropped instead. On start, `.part` files left by a crashed process are cut after their last
complete line and sealed.

Locking: appends happen under a short lock (an unbuffered write — the sender's in steps of
500 lines — no fsync); fsync, close and rename run outside it, on segments nobody appends to
any more — so a caller spilling an event here waits at most for another append, never for an
fsync.
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections import deque
from dataclasses import dataclass


_HELD: set[str] = set()          # queue directories this process holds
_HELD_LOCK = threading.Lock()


class QueueBusy(RuntimeError):
    """Another process holds the queue directory."""


@dataclass
class Segment:
    seq: int
    path: str
    size: int = 0
    lines: int = 0
    file: object = None   # the unbuffered file while it is appended to


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskQueue:
    def __init__(self, path: str, max_bytes: int, segment_bytes: int | None = None):
        if max_bytes <= 0:
            raise ValueError("max_queue_bytes must be positive")
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(4 << 20, max_bytes // 8))
        busy = QueueBusy(f"{self.path} is used by another client; give each process its own queue_dir")
        with _HELD_LOCK:   # lockf locks belong to a process: a second client in the same one is caught here
            if self.path in _HELD:
                raise busy
            self._lockfile = open(os.path.join(self.path, "lock"), "a+b")
            try:
                fcntl.lockf(self._lockfile.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lockfile.close()
                raise busy from None
            _HELD.add(self.path)
        self._lock = threading.Lock()
        self._sealed: deque[Segment] = deque()
        self._to_seal: list[Segment] = []
        self._open: Segment | None = None
        self._reading: int | None = None   # seq of the segment the sender is delivering
        self.total_bytes = 0
        self.total_lines = 0
        self.dropped = 0
        self._next_seq = self._recover() + 1

    # -- start --------------------------------------------------------------------------------------

    def _recover(self) -> int:
        found = []
        for name in os.listdir(self.path):
            stem, _, ext = name.partition(".")
            if stem.isdigit() and ext in ("part", "ndjson"):
                found.append((int(stem), ext))
        last = 0
        for seq, ext in sorted(found):
            last = max(last, seq)
            path = os.path.join(self.path, f"{seq:016d}.{ext}")
            if ext == "part":   # a crashed writer: keep its complete lines
                with open(path, "r+b") as f:
                    data = f.read()
                    keep = data.rfind(b"\n") + 1
                    if keep != len(data):
                        self.dropped += 1
                        f.truncate(keep)
                    f.flush()
                    os.fsync(f.fileno())
                if keep == 0:
                    os.unlink(path)
                    continue
                final = os.path.join(self.path, f"{seq:016d}.ndjson")
                os.rename(path, final)
                path = final
            size = os.path.getsize(path)
            if size == 0:
                os.unlink(path)
                continue
            with open(path, "rb") as f:
                lines = f.read().count(b"\n")
            self._sealed.append(Segment(seq, path, size, lines))
            self.total_bytes += size
            self.total_lines += lines
        _fsync_dir(self.path)
        with self._lock:
            self._make_room(0)
        return last

    # -- writing ------------------------------------------------------------------------------------

    def append(self, lines: list[bytes], *, timeout: float = -1) -> bool:
        """Append lines (each ending in a newline). False when the lock stayed busy for `timeout`
        seconds (the caller drops them). Lines that cannot fit are counted in `dropped`."""
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            data = b"".join(lines)
            if not self._make_room(len(data)):
                self.dropped += len(lines)
                return True
            seg = self._open
            if seg is None:
                seq, self._next_seq = self._next_seq, self._next_seq + 1
                path = os.path.join(self.path, f"{seq:016d}.part")
                seg = self._open = Segment(seq, path, file=open(path, "ab", buffering=0))
            view = memoryview(data)
            while view:
                view = view[seg.file.write(view):]
            seg.size += len(data)
            seg.lines += len(lines)
            self.total_bytes += len(data)
            self.total_lines += len(lines)
            if seg.size >= self.segment_bytes:
                self._to_seal.append(seg)
                self._open = None
            return True
        finally:
            self._lock.release()

    def _make_room(self, size: int) -> bool:
        """Under the lock: delete the oldest sealed segments (not the one being read) until `size`
        more bytes fit. False when they cannot."""
        while self.total_bytes + size > self.max_bytes:
            victim = next((s for s in self._sealed if s.seq != self._reading), None)
            if victim is None:
                return False
            self._sealed.remove(victim)
            try:
                os.unlink(victim.path)
            except FileNotFoundError:
                pass
            self.total_bytes -= victim.size
            self.total_lines -= victim.lines
            self.dropped += victim.lines
        return True

    def sync(self) -> None:
        """Make every appended line durable: fsync the open segment, seal the full ones.
        Called by the sender thread only (it is the only one that closes files)."""
        with self._lock:
            seg, pending = self._open, self._to_seal
            self._to_seal = []
        for full in pending:
            self._seal(full)
        if seg is not None:
            try:
                os.fsync(seg.file.fileno())
            except (ValueError, OSError):   # sealed meanwhile by a close() racing a late sender: fsynced there
                pass

    def seal_open(self) -> None:
        """Seal the segment being written (so it can be read), and any full ones."""
        with self._lock:
            pending = self._to_seal + ([self._open] if self._open is not None else [])
            self._to_seal, self._open = [], None
        for seg in pending:
            self._seal(seg)

    def _seal(self, seg: Segment) -> None:
        os.fsync(seg.file.fileno())
        seg.file.close()
        seg.file = None
        final = seg.path[: -len(".part")] + ".ndjson"
        os.rename(seg.path, final)
        _fsync_dir(self.path)
        seg.path = final
        with self._lock:
            self._sealed.append(seg)
            self._sealed = deque(sorted(self._sealed, key=lambda s: s.seq))

    # -- reading ------------------------------------------------------------------------------------

    def oldest(self) -> tuple[int, list[bytes]] | None:
        """The oldest sealed segment's sequence number and lines (sealing the open one when nothing
        else is there), marked as being read so the size cap spares it. None when empty."""
        with self._lock:
            empty = not self._sealed
        if empty:
            self.seal_open()
        with self._lock:
            if not self._sealed:
                return None
            seg = self._sealed[0]
            self._reading = seg.seq
        try:
            with open(seg.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.done(seg.seq)
            return self.oldest()
        return seg.seq, [line + b"\n" for line in data.split(b"\n")[:-1]]

    def done(self, seq: int) -> None:
        """Every line of segment `seq` was answered: delete it."""
        with self._lock:
            if self._reading == seq:
                self._reading = None
            for seg in self._sealed:
                if seg.seq == seq:
                    self._sealed.remove(seg)
                    self.total_bytes -= seg.size
                    self.total_lines -= seg.lines
                    break
            else:
                return
        try:
            os.unlink(seg.path)
        except FileNotFoundError:
            pass

    def empty(self) -> bool:
        return self.total_lines == 0

    def close(self) -> None:
        if self._lockfile.closed:
            return
        self.seal_open()
        with _HELD_LOCK:
            self._lockfile.close()   # releases the lockf lock
            _HELD.discard(self.path)


def _reset_after_fork() -> None:   # the lock may have been held by another thread at fork time
    global _HELD_LOCK
    _HELD_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
