"""The Python client (platlogs_client) against a real `platlogs serve`: the logging handler's
records found by search with their fields, exactly once across a server crash and a client
restart, a caller that never waits on the network, refused events counted and not re-sent,
close() and the interpreter's exit delivering, a forked child shipping its own records."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from test_server_cli import CLI, cli_env, free_port, run_cli  # noqa: F401 (fixtures)

from platlogs_client import Client, PlatformLogsHandler
from platlogs_client.diskqueue import DiskQueue, QueueBusy
from platlogs_client.events import new_id
from platlogs_client.handler import NAMESPACES
from platlogs_client.transport import judge

ROOT = Path(__file__).resolve().parents[1]
FAST = {"min_backoff": 0.05, "max_backoff": 0.5, "timeout": 5}   # short retries: the suite stays quick


def make_keys(env: dict) -> tuple[str, str]:
    ingest = run_cli(env, "keys", "create", "--scope", "ingest").stdout.strip()
    read = run_cli(env, "keys", "create", "--scope", "read").stdout.strip()
    return ingest, read


@pytest.fixture
def keys(cli_env):  # noqa: F811
    return make_keys(cli_env)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One `platlogs serve` for the module (as test_server_cli's `server`, started once: each test
    writes under its own service.name): (base URL, ingest key, read key)."""
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("client") / "data")}
    ingest, read = make_keys(env)
    port = free_port()
    proc = start_server(env, port)
    yield f"http://127.0.0.1:{port}", ingest, read
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def search_all(base: str, read_key: str, q: str) -> list[dict]:
    hits, cursor = [], None
    while True:
        params = {"q": q, "size": 1000, "order": "asc", **({"cursor": cursor} if cursor else {})}
        page = requests.get(base + "/api/v1/events", params=params, timeout=30,
                            headers={"Authorization": f"Bearer {read_key}"})
        assert page.status_code == 200, page.text
        body = page.json()
        hits += body["hits"]
        cursor = body["next_cursor"]
        if not cursor or not body["hits"]:
            return hits


def start_server(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).ok:
                return proc
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("server did not start")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, **kwargs)


# -- with a server ---------------------------------------------------------------------------------

def test_two_thousand_records_through_the_handler_are_found_with_their_fields(live):
    base, ingest, read = live
    handler = PlatformLogsHandler(url=base, api_key=ingest, service="client-test", environment="ci",
                                  batch_size=300, flush_interval=0.2, **FAST)
    logger = logging.getLogger("client_test.handler")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        for i in range(2000):
            if i % 100 == 7:
                try:
                    raise KeyError(f"missing {i}")
                except KeyError:
                    logger.exception("lookup %d failed", i, extra={"seq": i})
            else:
                logger.log(logging.WARNING if i % 2 else logging.INFO, "player action %d", i, extra={
                    "seq": i, "actor": {"type": "player", "id": f"p-{i % 50}"}, "event.action": "login",
                    "order ref": f"A-{i}"})
        assert handler.client.flush(60)
    finally:
        logger.removeHandler(handler)
        handler.close()
    stats = handler.client.stats()
    assert stats["sent"] == 2000 and stats["refused"] == 0 and stats["dropped"] == 0 and stats["queued"] == 0

    hits = search_all(base, read, "service.name:client-test")
    assert len(hits) == 2000
    assert len({h["event"]["id"] for h in hits}) == 2000                       # none twice
    by_seq = {int(h["labels"]["seq"]): h for h in hits}
    assert sorted(by_seq) == list(range(2000))
    one = by_seq[3]
    assert one["message"] == "player action 3" and one["log"]["level"] == "warning"
    assert one["log"]["logger"] == "client_test.handler"
    assert one["actor"] == {"type": "player", "id": "p-3"} and one["event"]["action"] == "login"
    assert one["labels"]["order_ref"] == "A-3"
    assert one["service"]["environment"] == "ci" and one["host"]["name"] == socket.gethostname()
    assert one["process"]["pid"] == os.getpid() and one["process"]["thread"]["name"] == "MainThread"
    assert by_seq[4]["log"]["level"] == "info"
    failed = by_seq[107]
    assert failed["log"]["level"] == "error" and failed["message"] == "lookup 107 failed"
    assert failed["error"]["type"] == "KeyError" and "missing 107" in failed["error"]["message"]
    assert "raise KeyError" in failed["error"]["stack_trace"]
    assert failed["@timestamp"].endswith("Z")
    found = search_all(base, read, "service.name:client-test AND error.type:KeyError")
    assert len(found) == 20


def test_a_server_crash_mid_stream_loses_nothing_and_stores_nothing_twice(cli_env, keys, tmp_path):  # noqa: F811
    """SIGKILL the server while a thread logs 3,000 events (the first 1,000 before, the rest while
    it is down); they wait on disk; the restarted server gets every one exactly once."""
    ingest, read = keys
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(cli_env, port)
    client = Client(base, ingest, batch_size=100, flush_interval=0.05, queue_dir=str(tmp_path / "q"),
                    max_memory_events=500, **FAST)
    killed, refused = threading.Event(), []

    def produce():
        for i in range(3000):
            if i == 1000:
                killed.wait(60)
            if not client.send({"message": f"crash test {i}", "labels": {"n": str(i)},
                                "service": {"name": "crash-test"}}):
                refused.append(i)
            if i % 50 == 0:
                time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        while client.stats()["sent"] < 500:
            time.sleep(0.01)
        kill(proc)                                   # mid-stream: a batch's answer may be lost
        killed.set()
        producer.join(60)
        time.sleep(0.5)
        down = client.stats()
        assert down["retries"] > 0 and down["queued"] >= 2000 and not refused
        assert any(p.suffix == ".ndjson" for p in (tmp_path / "q").iterdir())   # on disk, fsynced
        proc = start_server(cli_env, port)
        assert client.flush(120), client.stats()
        hits = search_all(base, read, "service.name:crash-test")
    finally:
        killed.set()
        producer.join(60)
        client.close()
        kill(proc)
    numbers = sorted(int(h["labels"]["n"]) for h in hits)
    assert numbers == list(range(3000))                          # every one, once
    stats = client.stats()
    assert stats["refused"] == 0 and stats["dropped"] == 0
    assert stats["sent"] - stats["duplicates"] <= 3000 <= stats["sent"]


class LossyProxy:
    """A TCP relay to the server that swallows the answer of its first `lose` connections and cuts
    them: the server stored the batch, the client never hears so."""

    def __init__(self, upstream: int, lose: int):
        self.upstream, self.lose = upstream, lose
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            lose, self.lose = self.lose > 0, self.lose - 1
            threading.Thread(target=self._relay, args=(conn, lose), daemon=True).start()

    def _relay(self, conn, lose):
        up = socket.create_connection(("127.0.0.1", self.upstream))

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(conn, up), daemon=True).start()
        if lose:
            up.recv(65536)          # the answer arrives: the batch is stored; drop it and hang up
            for s in (conn, up):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        else:
            pump(up, conn)

    def close(self):
        self.listener.close()


def test_a_lost_answer_is_resent_and_stored_once(live):
    base, ingest, read = live
    proxy = LossyProxy(int(base.rsplit(":", 1)[1]), lose=2)
    client = Client(f"http://127.0.0.1:{proxy.port}", ingest, batch_size=100, flush_interval=0.05, **FAST)
    try:
        for i in range(300):
            client.send({"message": f"lossy {i}", "labels": {"n": str(i)}, "service": {"name": "lossy-test"}})
        assert client.flush(60)
        stats = client.stats()
    finally:
        client.close()
        proxy.close()
    assert stats["retries"] >= 2 and stats["duplicates"] >= 100 and stats["sent"] == 300   # answered lines
    numbers = sorted(int(h["labels"]["n"]) for h in search_all(base, read, "service.name:lossy-test"))
    assert numbers == list(range(300))


def test_the_disk_queue_outlives_the_process_and_drains_when_the_server_is_back(cli_env, keys, tmp_path):  # noqa: F811
    """A process logs while the server is away and exits: its records wait on disk; a new process's
    client on the same queue_dir delivers them once the server answers."""
    ingest, read = keys
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    queue = tmp_path / "q"
    code = f"""
import logging
from platlogs_client import PlatformLogsHandler
h = PlatformLogsHandler(url={base!r}, api_key={ingest!r}, service="restart-test", queue_dir={str(queue)!r},
                        flush_interval=0.05, min_backoff=0.05, max_backoff=0.2, atexit_timeout=0.5, timeout=2)
log = logging.getLogger("r"); log.addHandler(h); log.setLevel(logging.INFO)
for i in range(300):
    log.info("offline %d", i, extra={{"n": i}})
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert sorted(p.suffix for p in queue.iterdir() if p.name != "lock") == [".ndjson"] * len(
        [p for p in queue.iterdir() if p.name != "lock"]) and len(list(queue.iterdir())) > 1
    proc = start_server(cli_env, port)
    try:
        client = Client(base, ingest, queue_dir=str(queue), **FAST)
        assert client.stats()["queued"] == 300
        assert client.flush(60)
        client.close()
        assert client.stats()["sent"] == 300
        hits = search_all(base, read, "service.name:restart-test")
    finally:
        kill(proc)
    assert sorted(int(h["labels"]["n"]) for h in hits) == list(range(300))
    assert [p.name for p in queue.iterdir()] == ["lock"]


def test_a_refused_event_is_counted_reported_and_never_resent(live):
    base, ingest, read = live
    refused = []
    client = Client(base, ingest, flush_interval=0.05, on_refused=lambda line, reason: refused.append((line, reason)),
                    **FAST)
    assert client.send({"message": "good one", "service": {"name": "refuse-test"}})
    assert client.send({"message": "bad id", "service": {"name": "refuse-test"}, "event": {"id": "!not an id"}})
    assert client.send({"message": "not JSON", "n": float("nan")}) is False   # refused here, never sent
    assert client.flush(30)
    time.sleep(0.5)                  # a re-send would show in the counts by now
    stats = client.stats()
    client.close()
    assert stats["refused"] == 2 and stats["sent"] == 1 and stats["retries"] == 0 and stats["queued"] == 0
    reasons = sorted(reason for _, reason in refused)
    assert len(reasons) == 2 and "event.id" in reasons[0] and "not encodable" in reasons[1]
    assert b"!not an id" in refused[0][0] or b"!not an id" in refused[1][0]
    assert [h["message"] for h in search_all(base, read, "service.name:refuse-test")] == ["good one"]


def test_close_and_exit_deliver_what_is_queued(live):
    base, ingest, read = live
    client = Client(base, ingest, batch_size=1000, flush_interval=3600, **FAST)   # nothing leaves by itself
    for i in range(10):
        client.send({"message": f"closing {i}", "service": {"name": "close-test"}})
    assert client.stats()["queued"] == 10
    assert client.close(10) is True
    assert client.send({"message": "after close"}) is False
    assert len(search_all(base, read, "service.name:close-test")) == 10

    code = f"""
import logging, sys
from platlogs_client import PlatformLogsHandler
h = PlatformLogsHandler(url={base!r}, api_key={ingest!r}, service="exit-test", flush_interval=3600)
log = logging.getLogger("x"); log.addHandler(h); log.setLevel(logging.INFO)
for i in range(50):
    log.info("exiting %d", i)
assert not any(m.split(".")[0] in ("flask", "app", "requests") for m in sys.modules), sorted(sys.modules)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert len(search_all(base, read, "service.name:exit-test")) == 50


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_ships_its_own_records_with_a_fresh_thread(live):
    base, ingest, read = live
    client = Client(base, ingest, flush_interval=0.05, **FAST)
    client.send({"message": "parent before fork", "service": {"name": "fork-test"}})
    assert client.flush(30)
    client.send({"message": "parent queued at fork", "service": {"name": "fork-test"}})
    pid = os.fork()
    if pid == 0:   # the child: its own queue and thread; exits without running the parent's tests
        code = 1
        try:
            ok = all(client.send({"message": f"child {i}", "service": {"name": "fork-test"}}) for i in range(20))
            code = 0 if ok and client.flush(30) and client.stats()["sent"] == 20 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert client.flush(30)
    client.close()
    assert os.waitstatus_to_exitcode(status) == 0
    messages = sorted(h["message"] for h in search_all(base, read, "service.name:fork-test"))
    assert messages == sorted(["parent before fork", "parent queued at fork"] + [f"child {i}" for i in range(20)])


def test_the_documented_snippet_works(live, tmp_path):
    """docs/shippers.md's first Python example, run as written (address, key and queue directory
    replaced), stores what it says."""
    base, ingest, read = live
    text = (ROOT / "docs" / "shippers.md").read_text()
    snippet = text[text.index("\n## Python\n"):].split("```python\n", 1)[1].split("```", 1)[0]
    for placeholder, value in (("http://127.0.0.1:8080", base), ("plk_…", ingest),
                               ("/tmp/wallet-platlogs-queue", str(tmp_path / "q"))):
        assert placeholder in snippet
        snippet = snippet.replace(placeholder, value)
    result = run_python(snippet)
    assert result.returncode == 0, result.stderr
    hits = {h["message"]: h for h in search_all(base, read, "service.name:wallet")}
    assert sorted(hits) == ["deposit approved", "lookup failed"]
    deposit = hits["deposit approved"]
    assert deposit["payment"]["transaction_id"] == "tx-9" and deposit["actor"]["id"] == "p-1842"
    assert deposit["event"]["action"] == "deposit" and deposit["labels"]["order_ref"] == "A-17"
    assert deposit["service"]["version"] == "4.2.0" and deposit["log"]["logger"] == "wallet.deposits"
    assert hits["lookup failed"]["error"]["type"] == "KeyError"


# -- without a server ------------------------------------------------------------------------------

def test_send_never_waits_on_a_server_that_does_not_answer():
    """A listener that accepts and never answers: the sender thread hangs in its request, the
    callers go on; past the memory bound events are dropped and counted, not waited for."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        client = Client(f"http://127.0.0.1:{silent.getsockname()[1]}", "k", batch_size=100,
                        flush_interval=0.01, max_memory_events=1000, timeout=30)
        started = time.monotonic()
        slowest = 0.0
        for i in range(5000):
            t = time.monotonic()
            client.send({"message": f"m{i}"})
            slowest = max(slowest, time.monotonic() - t)
        elapsed = time.monotonic() - started
        stats = client.stats()
        client.close(timeout=0)
    # the request hangs for 30 s: returning at all shows no send waited for it (bounds generous for a busy machine)
    assert elapsed < 5 and slowest < 1
    assert stats["dropped"] >= 3900 and stats["queued"] + stats["dropped"] == 5000


class Scripted:
    """An HTTP server that answers the bulk endpoint from a script of (status, headers, body) and
    keeps each request's lines and arrival time (a real socket and HTTP, the server's contract
    played by hand: for answers a healthy server rarely gives)."""

    def __init__(self, answers):
        import gzip
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.answers, self.requests = list(answers), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = gzip.decompress(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((time.monotonic(), body.splitlines()))
                status, headers, answer = outer.answers.pop(0) if outer.answers else (
                    200, {}, {"accepted": len(body.splitlines()), "rejected": 0, "duplicates": 0, "errors": []})
                data = json.dumps(answer).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_retry_after_is_obeyed_and_a_503_resends_only_the_lines_it_names():
    failed = {"accepted": 2, "rejected": 1, "duplicates": 0,
              "errors": [{"line": 2, "reason": "storage unavailable, not stored: disk full"}]}
    server = Scripted([(429, {"Retry-After": "1"}, {"error": {"status": 429, "message": "slow down"}}),
                       (503, {"Retry-After": "0"}, failed)])
    client = Client(server.url, "k", batch_size=3, flush_interval=3600, min_backoff=0.01, max_backoff=0.05)
    try:
        for i in range(3):
            client.send({"message": f"m{i}"})
        assert client.flush(30)
        stats = client.stats()
    finally:
        client.close()
        server.close()
    (t0, first), (t1, second), (_, third) = server.requests
    assert t1 - t0 >= 0.95                               # Retry-After: 1, though the backoff is 10-50 ms
    assert first == second and len(first) == 3            # the same bytes again: same ids, same times
    assert third == [first[1]]                            # the 503 named line 2 only
    assert stats["sent"] == 3 and stats["retries"] == 2 and stats["refused"] == 0


def test_the_disk_queue_caps_its_size_dropping_the_oldest(tmp_path):
    queue = DiskQueue(str(tmp_path), max_bytes=10_000, segment_bytes=1000)
    line = b'{"message":"' + b"x" * 86 + b'"}\n'   # 100 bytes
    for _ in range(300):
        queue.append([line])
    queue.sync()
    assert queue.total_bytes <= 10_000 and queue.dropped >= 200
    assert queue.total_lines + queue.dropped == 300
    with pytest.raises(QueueBusy):
        DiskQueue(str(tmp_path), max_bytes=10_000)   # one client per directory
    second = Client("http://127.0.0.1:9", "k", queue_dir=str(tmp_path))   # a client keeps working, in memory
    assert second.queue_dir is None and second.send({"message": "kept in memory"})
    second.close(timeout=0)
    # slots: each client (a pre-forked worker) takes the first free one; past the last, memory
    slotted = [Client("http://127.0.0.1:9", "k", queue_dir=str(tmp_path / "w"), queue_slots=2) for _ in range(3)]
    assert [c.queue_dir for c in slotted] == [str(tmp_path / "w" / "slot-0"), str(tmp_path / "w" / "slot-1"), None]
    slotted[0].close(timeout=0)
    again_slot = Client("http://127.0.0.1:9", "k", queue_dir=str(tmp_path / "w"), queue_slots=2)
    assert again_slot.queue_dir == str(tmp_path / "w" / "slot-0")          # the freed slot is taken again
    for c in (*slotted[1:], again_slot):
        c.close(timeout=0)
    queue.close()
    # a crashed writer's partial last line is cut off; complete lines are kept
    (tmp_path / "9999999999999999.part").write_bytes(line + b'{"message":"half')
    again = DiskQueue(str(tmp_path), max_bytes=10_000)
    _, lines = again.oldest()
    assert lines and all(item == line for item in lines)
    # 100 lines are 10,100 bytes: the oldest segment (10 lines) goes to stay under the cap
    assert again.total_bytes <= 10_000 and again.total_lines == 90 and again.dropped == 1 + 10
    again.close()


def test_answers_map_to_done_refused_and_retry():
    report = json.dumps({"accepted": 1, "rejected": 1, "duplicates": 0,
                         "errors": [{"line": 2, "reason": "malformed JSON"}]}).encode()
    outcome = judge(207, report, None, 2)
    assert outcome.refused == [(1, "malformed JSON")] and outcome.retry == [] and outcome.accepted == 1
    failed = json.dumps({"accepted": 1, "rejected": 2, "duplicates": 0,
                         "errors": [{"line": 2, "reason": "storage unavailable"},
                                    {"line": 3, "reason": "storage unavailable"}]}).encode()
    outcome = judge(503, failed, "7", 3)
    assert outcome.retry == [1, 2] and outcome.refused == [] and outcome.retry_after == 7
    assert judge(429, b"", "2", 4).retry == [0, 1, 2, 3]
    assert judge(502, b"<html>bad gateway</html>", None, 2).retry == [0, 1]
    assert judge(401, b'{"error": {"status": 401, "message": "no key"}}', None, 1).retry == [0]
    assert judge(415, b'{"error": {"status": 415, "message": "gzip?"}}', None, 2).refused == [
        (0, "415: gzip?"), (1, "415: gzip?")]
    assert judge(413, b"too big", None, 8).split


def test_ids_are_ones_the_server_accepts_and_sort_by_time():
    from app.events.ids import new_id as server_id
    from app.events.ids import EVENT_ID
    ids = [new_id(1_764_756_000_000 + i) for i in range(100)]
    assert all(EVENT_ID.match(i) for i in ids) and ids == sorted(ids) and len(set(ids)) == 100
    assert new_id(1_764_756_000_000)[:10] == server_id(1_764_756_000_000)[:10]


def test_the_handler_knows_every_namespace_of_the_schema():
    fields = yaml.safe_load((ROOT / "app" / "events" / "schema.yaml").read_text())["fields"]
    heads = {name.split(".")[0] for name in fields if "." in name}
    assert heads <= NAMESPACES, heads - NAMESPACES


def test_the_handler_never_raises_into_the_application(capsys):
    class Broken:
        def __str__(self):
            raise RuntimeError("no str")

    client = Client("http://127.0.0.1:9", "k", flush_interval=3600)
    handler = PlatformLogsHandler(client)
    logger = logging.getLogger("client_test.never_raises")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.error("bad args %d", "not a number")                 # format error: kept, tagged
        logger.error("odd extra", extra={"thing": Broken(), "labels": {"ok": "1"}})
        event = handler.to_event(logging.LogRecord("x", 40, "f.py", 1, "bad args %d", ("nan",), None))
        assert "format_error" in event["tags"]
        custom = handler.to_event(logging.LogRecord("x", 25, "f.py", 1, "between", (), None))
        assert custom["log"]["level"] == "info" and custom["log"]["original_level"] == "Level 25"
        assert "Traceback" not in capsys.readouterr().err        # nothing even reached handleError
        queued = client.stats()["queued"]
        handler.handle(logging.LogRecord("platlogs_client", 30, "sender.py", 1, "delivery failed", (), None))
        assert client.stats()["queued"] == queued == 2         # the client's own warnings are not shipped
    finally:
        logger.removeHandler(handler)
        client.close(timeout=0)
