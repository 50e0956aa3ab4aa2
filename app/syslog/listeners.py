"""The network side: TCP, TLS and UDP listeners on one asyncio loop, feeding one bounded batcher
whose writer thread hands batches to the ingest pipeline (the same `Ingestor` as every other way in).

Back-pressure (TCP, TLS): the batcher holds at most `max_queue` events besides the batch being
written. A connection whose frames do not fit waits — it reads nothing more, its kernel buffer
fills and TCP's window closes on the sender, which then waits too (rsyslog queues meanwhile).
UDP cannot be told to wait: a datagram that finds the queue full is dropped and counted
(`dropped.queue_full`), and the kernel's own drops on the socket are read from /proc/net/udp
(`dropped.kernel`), so a flood is never silent.
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .framing import Deframer
from .mapping import to_json
from .parse import parse
from .status import Counters

READ_CHUNK = 64 * 1024
STORAGE_RETRIES = 6          # a batch the store failed: tried again after 0.5, 1, 2, 4, 8 s, then dropped
UDP_RCVBUF = 4 * 1024 * 1024


class Batcher:
    """Events (JSON lines) between the readers and the store: written in batches of at most
    `max_batch`, at least every `max_wait` seconds while any wait."""

    def __init__(self, write: Callable[[list[bytes]], None], counters: Counters, *, max_batch: int = 2000,
                 max_wait: float = 0.5, max_queue: int = 2000):
        self.write = write
        self.counters = counters
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.pending: list[bytes] = []
        self._room = asyncio.Event()
        self._room.set()
        self._ready = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="syslog-writer")
        self.stopping = False

    def full(self) -> bool:
        return len(self.pending) >= self.max_queue

    def offer(self, line: bytes) -> None:
        """Add one event (there is room: the caller checked `full()`)."""
        self.pending.append(line)
        if len(self.pending) >= self.max_batch:
            self._ready.set()

    async def put(self, lines: list[bytes]) -> None:
        """Add events once there is room: until then the caller (a connection) reads nothing more."""
        while len(self.pending) >= self.max_queue:
            self._room.clear()
            await self._room.wait()
        self.pending.extend(lines)
        if len(self.pending) >= self.max_batch:
            self._ready.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending and self.stopping:
                return
            if len(self.pending) < self.max_batch and not self.stopping:
                try:     # a partial batch (or none): give it until max_wait to fill
                    await asyncio.wait_for(self._ready.wait(), self.max_wait)
                except asyncio.TimeoutError:
                    pass
            self._ready.clear()
            if not self.pending:
                continue
            batch = self.pending[:self.max_batch]
            del self.pending[:self.max_batch]
            self.counters.queue = len(self.pending)
            if len(self.pending) < self.max_queue:
                self._room.set()
            await loop.run_in_executor(self._executor, self.write, batch)
            self.counters.queue = len(self.pending)

    def stop(self) -> None:
        """Write what is pending, then let run() return."""
        self.stopping = True
        self._ready.set()

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def make_writer(ingestor, counters: Counters, sleep=time.sleep) -> Callable[[list[bytes]], None]:
    """write(batch): through the pipeline; refusals counted by reason; a store failure retried
    with back-off (the readers wait meanwhile), then counted as dropped."""

    def write(batch: list[bytes]) -> None:
        try:
            attempt_all(batch)
        except Exception as exc:   # a defect must not stop the listeners: counted, said, and on
            counters.dropped["storage"] += len(batch)
            print(f"syslog: a batch of {len(batch)} was not stored: {exc!r}", file=sys.stderr, flush=True)

    def attempt_all(batch: list[bytes]) -> None:
        delay = 0.5
        for attempt in range(STORAGE_RETRIES):
            report = ingestor.ingest(enumerate(batch), check_size=True)
            counters.stored += report.accepted
            counters.batches += 1
            retry = []
            for error in report.errors:
                if error["reason"].startswith("storage unavailable"):
                    retry.append(batch[error["index"]])
                else:
                    counters.refuse(error["reason"])
            if report.errors_truncated:
                counters.refuse("other", report.rejected - len(report.errors))
            if not retry:
                return
            batch = retry
            if attempt < STORAGE_RETRIES - 1:
                sleep(delay)
                delay *= 2
        counters.dropped["storage"] += len(batch)

    return write


class Receiver:
    """What every listener shares: parsing to events, the counters, the batcher."""

    def __init__(self, batcher: Batcher, counters: Counters, *, max_frame: int, tz, max_connections: int = 1024):
        self.batcher = batcher
        self.counters = counters
        self.max_frame = max_frame
        self.tz = tz
        self.max_connections = max_connections

    def event(self, frame: bytes, received_ms: int, peer: str | None, truncated: bool = False) -> bytes:
        msg = parse(frame, received_ms, self.tz)
        if msg.format == "raw":
            self.counters.raw += 1
        return to_json(msg, received_ms, peer, truncated)

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
            pass     # the sender went away (an SSL error is an OSError): what was read is kept
        finally:
            counters.truncated += deframer.truncated
            connections["open"] -= 1
            writer.close()

    async def _add(self, frames: list[tuple[bytes, bool]], peer: str | None, per_proto: dict) -> None:
        now = time.time_ns() // 1_000_000
        event = self.event
        lines = [event(frame, now, peer, cut) for frame, cut in frames]
        self.counters.received += len(lines)
        per_proto["received"] += len(lines)
        await self.batcher.put(lines)


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
            data = data[:self.receiver.max_frame]
            counters.truncated += 1
        batcher.offer(self.receiver.event(data, time.time_ns() // 1_000_000, _peer(addr), truncated))

    def error_received(self, exc) -> None:   # ICMP errors on a receive-only socket: nothing to do
        pass


def _peer(address) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None


def udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)   # capped by net.core.rmem_max
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
