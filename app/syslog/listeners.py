"""The network side: TCP, TLS and UDP listeners on one asyncio loop, feeding one bounded batcher
that hands batches of frames to the writers (app/syslog/writer.py: parsing, mapping and the
ingest pipeline, the same `Ingestor` as every other way in).

Back-pressure (TCP, TLS): the batcher holds at most `max_queue` frames (and MAX_QUEUE_BYTES)
besides the batches being written (at most one per writer, each at most MAX_BATCH_BYTES). A
connection whose frames do not fit waits — it reads nothing more, its kernel buffer fills and
TCP's window closes on the sender, which then waits too (rsyslog queues meanwhile). UDP cannot
be told to wait: a datagram that finds the queue full is dropped and counted
(`dropped.queue_full`), and the kernel's own drops on the socket are read from /proc/net/udp
(`dropped.kernel`), so a flood is never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable

from ..ingest.syslog_status import Counters
from .framing import Deframer
from .writer import add_result

READ_CHUNK = 64 * 1024
MAX_BATCH_BYTES = 16 << 20  # a batch's frames, in bytes, at most (besides max_batch frames) ...
MAX_QUEUE_BYTES = 32 << 20  # ... and the queue's: memory stays bounded whatever the frame sizes
UDP_RCVBUF = 4 * 1024 * 1024


class Batcher:
    """Frames between the readers and the writers: handed over in batches of at most `max_batch`,
    at least every `max_wait` seconds while any wait, at most `writers` batches at a time."""

    def __init__(
        self,
        submit: Callable[[list], Awaitable[dict]],
        counters: Counters,
        *,
        max_batch: int = 2000,
        max_wait: float = 0.5,
        max_queue: int = 2000,
        writers: int = 1,
    ):
        self.submit = submit  # async: a batch -> its result (app/syslog/writer.py)
        self.counters = counters
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.pending: list = []
        self.pending_bytes = 0
        self.in_flight = 0
        self._slots = asyncio.Semaphore(max(writers, 1))
        self._room = asyncio.Event()
        self._room.set()
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self.stopping = False
        self.on_idle: Callable[[], None] | None = None

    def full(self) -> bool:
        return len(self.pending) >= self.max_queue or self.pending_bytes >= MAX_QUEUE_BYTES

    def offer(self, item) -> None:
        """Add one frame (there is room: the caller checked `full()`)."""
        self.pending.append(item)
        self.pending_bytes += len(item[0])
        if len(self.pending) >= self.max_batch or self.pending_bytes >= MAX_BATCH_BYTES:
            self._ready.set()

    async def put(self, items: list) -> None:
        """Add frames once there is room: until then the caller (a connection) reads nothing more."""
        while self.full():
            self._room.clear()
            await self._room.wait()
        self.pending.extend(items)
        self.pending_bytes += sum(len(item[0]) for item in items)
        if len(self.pending) >= self.max_batch or self.pending_bytes >= MAX_BATCH_BYTES:
            self._ready.set()

    def _take(self) -> list:
        """The next batch: at most max_batch frames and MAX_BATCH_BYTES bytes (at least one frame)."""
        count = size = 0
        limit = min(self.max_batch, len(self.pending))
        while count < limit and (count == 0 or size + len(self.pending[count][0]) <= MAX_BATCH_BYTES):
            size += len(self.pending[count][0])
            count += 1
        batch = self.pending[:count]
        del self.pending[:count]
        self.pending_bytes -= size
        return batch

    async def run(self) -> None:
        while True:
            if not self.pending and self.stopping:
                break
            if len(self.pending) < self.max_batch and self.pending_bytes < MAX_BATCH_BYTES and not self.stopping:
                # a partial batch (or none): give it until max_wait to fill
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), self.max_wait)
            self._ready.clear()
            if not self.pending:
                continue
            await self._slots.acquire()
            batch = self._take()
            self.counters.queue = len(self.pending)
            if not self.full():
                self._room.set()
            self.in_flight += 1
            task = asyncio.create_task(self._write(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def _write(self, batch: list) -> None:
        try:
            add_result(self.counters, await self.submit(batch))
        except Exception as exc:  # noqa: BLE001 a writer process died: counted, said, and on
            self.counters.dropped["storage"] += len(batch)
            print(f"syslog: a batch of {len(batch)} was lost: {exc!r}", file=sys.stderr, flush=True)
        finally:
            self.in_flight -= 1
            self._slots.release()
        self.counters.queue = len(self.pending)
        if not self.pending and not self.in_flight and self.on_idle is not None:
            self.on_idle()  # all caught up: say so now, not at the next second

    def stop(self) -> None:
        """Write what is pending, then let run() return."""
        self.stopping = True
        self._ready.set()


class Receiver:
    """What every listener shares: the counters, the batcher, the frame limit."""

    def __init__(self, batcher: Batcher, counters: Counters, *, max_frame: int, max_connections: int = 1024):
        self.batcher = batcher
        self.counters = counters
        self.max_frame = max_frame
        self.max_connections = max_connections

    async def handle_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: str) -> None:
        counters = self.counters
        connections = counters.connections
        if connections["open"] >= self.max_connections:
            connections["refused"] += 1
            writer.close()
            return
        connections["open"] += 1
        connections["total"] += 1
        per_proto = counters.by_protocol[proto]
        peer = _peer(writer.get_extra_info("peername"))
        deframer = Deframer(self.max_frame)
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                counters.bytes += len(data)
                per_proto["bytes"] += len(data)
                frames = deframer.feed(data)
                if frames:
                    await self._add(frames, peer, per_proto)
            last = deframer.pending()
            if last:
                await self._add([(last, False)], peer, per_proto)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the sender went away (an SSL error is an OSError): what was read is kept
        finally:
            counters.truncated += deframer.truncated
            connections["open"] -= 1
            writer.close()

    async def _add(self, frames: list[tuple[bytes, bool]], peer: str | None, per_proto: dict) -> None:
        now = time.time_ns() // 1_000_000
        items = [(frame, now, peer, cut) for frame, cut in frames]
        self.counters.received += len(items)
        per_proto["received"] += len(items)
        await self.batcher.put(items)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.counters = receiver.counters
        self.per_proto = receiver.counters.by_protocol["udp"]

    def datagram_received(self, data: bytes, addr) -> None:
        counters = self.counters
        counters.received += 1
        counters.bytes += len(data)
        self.per_proto["received"] += 1
        self.per_proto["bytes"] += len(data)
        batcher = self.receiver.batcher
        if batcher.full():
            counters.dropped["queue_full"] += 1
            return
        truncated = len(data) > self.receiver.max_frame
        if truncated:
            data = data[: self.receiver.max_frame]
            counters.truncated += 1
        batcher.offer((data, time.time_ns() // 1_000_000, _peer(addr), truncated))

    def error_received(self, exc) -> None:  # ICMP errors on a receive-only socket: nothing to do
        pass


def _peer(address) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None


def udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)  # capped by net.core.rmem_max
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped on `sock` (its receive buffer was full): the `drops` column of
    its row in /proc/net/udp or udp6 (Linux), or None where that cannot be read."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as fh:
                next(fh)
                for row in fh:
                    cols = row.split()
                    if len(cols) >= 13 and cols[9] == inode:
                        return int(cols[-1])
        except (OSError, ValueError, StopIteration):
            continue
    return None
