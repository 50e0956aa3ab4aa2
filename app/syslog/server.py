"""Running the listeners: `run()` in the process of `platlogs syslog`, and `start_process()` /
`stop_process()` for `platlogs serve`, which starts that command as one child process before
gunicorn forks its workers — so the listeners run exactly once, never in every worker.

The child writes `<data dir>/syslog-status.json` each second (app/ingest/syslog_status.py) and stops
when told (SIGTERM, SIGINT) or when its parent is gone, after writing what it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import ssl
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from ..config import Settings
from ..ingest.syslog_status import STATUS_FILE, Counters, read_status
from .listeners import Batcher, Receiver, UdpProtocol, kernel_drops, udp_socket
from .writer import build_writer, init_process, write_in_process

if TYPE_CHECKING:
    from ..storage import LogStore

START_TIMEOUT_S = 30


def run(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Listen until a signal (or the parent's end), then write what is pending and return."""
    if not settings.syslog.enabled:
        raise ValueError(
            "no syslog listener configured: set PLATLOGS_SYSLOG_TCP, PLATLOGS_SYSLOG_UDP or PLATLOGS_SYSLOG_TLS"
        )
    asyncio.run(_serve(settings, parent_pid))


def tls_context(cert, key) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


async def _serve(settings: Settings, parent_pid: int | None) -> None:
    conf = settings.syslog
    counters = Counters()
    loop = asyncio.get_running_loop()
    pool: WriterPool | ThreadPoolExecutor
    store: LogStore | None
    if conf.writers:  # parsing, normalising and indexing in their own processes: every core
        pool = WriterPool(settings, conf.writers)
        store = None
        submit = pool.submit
        await asyncio.gather(*(submit([]) for _ in range(conf.writers)))  # the store opens now, or fails now
    else:
        pool = ThreadPoolExecutor(1, thread_name_prefix="syslog-writer")
        writer, store = build_writer(settings)

        def submit(batch):
            return loop.run_in_executor(pool, writer.write, batch)

    batcher = Batcher(
        submit,
        counters,
        max_batch=conf.batch_size,
        max_wait=conf.batch_ms / 1000,
        max_queue=conf.queue,
        writers=max(conf.writers, 1),
    )
    receiver = Receiver(batcher, counters, max_frame=conf.max_message_bytes, max_connections=conf.max_connections)
    try:
        await _listen(settings, counters, batcher, receiver, parent_pid)
    finally:
        pool.shutdown(wait=True)
        if store is not None:
            store.close()


async def _listen(
    settings: Settings, counters: Counters, batcher: Batcher, receiver: Receiver, parent_pid: int | None
) -> None:
    conf = settings.syslog
    loop = asyncio.get_running_loop()
    servers: list = []
    transports: list = []
    udp_sock = None
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def stream(address, proto, context=None):
        server = await asyncio.start_server(
            lambda r, w: receiver.handle_stream(r, w, proto),
            address[0],
            address[1],
            ssl=context,
            limit=2 * 64 * 1024,
            reuse_address=True,
        )
        servers.append(server)
        host, port = server.sockets[0].getsockname()[:2]
        counters.listening.append(f"{proto} {_join(host, port)}")

    if conf.tcp:
        await stream(conf.tcp, "tcp")
    if conf.tls:
        await stream(conf.tls, "tls", tls_context(conf.tls_cert, conf.tls_key))
    if conf.udp:
        udp_sock = udp_socket(*conf.udp)
        transport, _ = await loop.create_datagram_endpoint(lambda: UdpProtocol(receiver), sock=udp_sock)
        transports.append(transport)
        host, port = udp_sock.getsockname()[:2]
        counters.listening.append(f"udp {_join(host, port)}")

    writer_task = asyncio.create_task(batcher.run())
    base_drops = kernel_drops(udp_sock) if udp_sock else None

    def tick() -> None:
        if udp_sock is not None and base_drops is not None:
            drops = kernel_drops(udp_sock)
            if drops is not None:
                counters.dropped["kernel"] = drops - base_drops
        counters.queue = len(batcher.pending)
        try:
            counters.write(settings.data_dir)
        except OSError as exc:
            print(f"syslog: cannot write {settings.data_dir / STATUS_FILE}: {exc}", file=sys.stderr)

    tick()
    batcher.on_idle = tick
    print("syslog: listening on " + ", ".join(counters.listening), file=sys.stderr, flush=True)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if parent_pid is not None and os.getppid() != parent_pid:
            break  # `platlogs serve` is gone without telling us
        if writer_task.done():
            break  # the writer failed: its exception is raised below
        tick()
    for server in servers:
        server.close()
    for transport in transports:
        transport.close()
    batcher.stop()
    try:
        await writer_task
    finally:
        tick()


class WriterPool:
    """The writer processes. One that dies (a crash in native code) breaks Python's pool: a new
    pool is made and the batch tried once more there, so one bad batch costs itself, not the
    listeners."""

    def __init__(self, settings: Settings, size: int):
        self.settings = settings
        self.size = size
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.size, mp_context=multiprocessing.get_context("spawn"), initializer=init_process, initargs=(self.settings,)
        )

    async def submit(self, batch: list) -> dict:
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            pool = self.pool
            try:
                return await loop.run_in_executor(pool, write_in_process, batch)
            except BrokenProcessPool:
                if self.pool is pool:
                    print("syslog: a writer process died; starting new ones", file=sys.stderr, flush=True)
                    pool.shutdown(wait=False, cancel_futures=True)
                    self.pool = self._new()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- from `platlogs serve` --------------------------------------------------------------------


def start_process(settings: Settings) -> subprocess.Popen:
    """Start `platlogs syslog` as a child and wait until it listens (its status file names its
    addresses). A child that exits first (an address in use, a bad certificate) raises RuntimeError."""
    status_path = settings.data_dir / STATUS_FILE
    child = subprocess.Popen([sys.executable, "-m", "app.cli", "syslog", "--parent-pid", str(os.getpid())])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise RuntimeError(f"the syslog listeners did not start (exit code {code}; the reason is printed above)")
        status = read_status(settings.data_dir) if status_path.exists() else None
        if status and status.get("pid") == child.pid and status.get("listening"):
            return child
        time.sleep(0.05)
    stop_process(child)
    raise RuntimeError(f"the syslog listeners did not start within {START_TIMEOUT_S} s")


def stop_process(child: subprocess.Popen, timeout: float = 15) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
