"""Platform Logs itself: over HTTP (`platlogs serve`), in-process (normalize + store.write), and
its searches through the store API (exact counts) and through GET /api/v1/search (as served)."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import orjson

from .common import (BATCH, FACET_SIZE, FACETS, HOUR_MS, ROOT, Answer, Query, cpu_seconds, du_bytes, histogram,
                     iso_ms, peak_rss_mb, read_batches, top_values, tree_pids)

HUGE = 10**15


def store_url(kind: str, directory: Path) -> str:
    return f"{kind}://{directory}"


def store_available(kind: str) -> str | None:
    """None when the project has a store of this kind, else why not."""
    from app.storage import BACKENDS
    if kind not in BACKENDS:
        return f"the project has no {kind!r} store yet (app.storage.BACKENDS: {', '.join(BACKENDS)})"
    return None


# -- ingest -------------------------------------------------------------------------------

def ingest_inprocess(path: Path, workdir: Path, kind: str, batch: int = BATCH) -> dict:
    """The ingest code without HTTP: parse, normalize and store.write in batches, one thread."""
    from app.config import Settings
    from app.services import build_normalizer
    from app.storage import open_store
    from app.events.normalize import EventError
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(workdir)})
    normalizer = build_normalizer(settings)
    directory = workdir / "events"
    store = open_store(store_url(kind, directory))
    stored = rejected = 0
    started = time.perf_counter()
    for lines in read_batches(path, batch):
        now = int(time.time() * 1000)
        events = []
        for line in lines:
            try:
                events.append(normalizer.normalize(orjson.loads(line), now, line))
            except EventError:
                rejected += 1
        result = store.write(events)
        stored += result.stored
        rejected += len(result.failed) + len(result.refused)
    store.close()
    elapsed = time.perf_counter() - started
    return {"events": stored, "rejected": rejected, "seconds": elapsed, "disk_bytes": du_bytes(directory)}


class Server:
    """`platlogs serve` (gunicorn, 2 workers) over a fresh data directory, with an ingest and a read key."""

    def __init__(self, workdir: Path, port: int, kind: str, workers: int = 2, threads: int = 4):
        self.port = port
        self.env = {**os.environ, "PLATLOGS_DATA_DIR": str(workdir),
                    "PLATLOGS_STORE": store_url(kind, workdir / "events"),
                    "PLATLOGS_TRAIL_STORE": f"sqlite:///{workdir / 'trail'}"}
        self.directory = workdir / "events"
        cli = [sys.executable, "-m", "app.cli"]
        self.ingest_key = self._key(cli, "ingest")
        self.read_key = self._key(cli, "read")
        self.log_path = Path(tempfile.gettempdir(), f"bench-compare-server-{port}.log")
        log = self.log_path.open("w")
        self.proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--workers", str(workers),
                                      "--threads", str(threads)], env=self.env, cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"platlogs serve stopped at start; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"platlogs serve did not answer in 60 s; see {self.log_path}")

    def _key(self, cli: list[str], scope: str) -> str:
        return subprocess.run([*cli, "keys", "create", "--scope", scope], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid)

    def cpu_seconds(self) -> dict[int, float]:
        return {pid: t for pid in self.pids() if (t := cpu_seconds(pid)) is not None}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ingest_http(server: Server, path: Path, senders: int = 2, batch: int = BATCH) -> dict:
    """NDJSON batches to POST /api/v1/events/bulk from `senders` threads, each on a keep-alive
    connection; the file is read as it is sent."""
    batches = read_batches(path, batch)
    lock = threading.Lock()
    totals = {"accepted": 0, "rejected": 0, "duplicates": 0, "errors": []}

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        headers = {"Authorization": f"Bearer {server.ingest_key}", "Content-Type": "application/x-ndjson"}
        while True:
            with lock:
                lines = next(batches, None)
            if lines is None:
                conn.close()
                return
            conn.request("POST", "/api/v1/events/bulk", body=b"\n".join(lines) + b"\n", headers=headers)
            response = conn.getresponse()
            report = orjson.loads(response.read())
            with lock:
                if "accepted" not in report:
                    totals["errors"].append(f"HTTP {response.status}: {report}")
                    totals["rejected"] += len(lines)
                    continue
                totals["accepted"] += report["accepted"]
                totals["rejected"] += report["rejected"]
                totals["duplicates"] += report.get("duplicates", 0)
                if report.get("errors") and len(totals["errors"]) < 3:
                    totals["errors"].append(report["errors"][0])

    before = server.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    after = server.cpu_seconds()
    return {"events": totals["accepted"], "rejected": totals["rejected"], "seconds": elapsed,
            "errors": totals["errors"][:3], "peak_rss_mb": peak_rss_mb(server.pids()),
            "cpu_seconds": sorted((round(after[p] - before.get(p, 0.0), 1) for p in after), reverse=True)}


# -- queries ------------------------------------------------------------------------------

class StoreQueries:
    """The seven queries through `open_store(url).search(SearchRequest(...))`, every count exact."""

    def __init__(self, url: str):
        from app.storage import open_store
        self.store = open_store(url)

    def request(self, query: Query):
        from app.query.parser import parse
        from app.storage import SearchRequest
        return SearchRequest(query=parse(query.platlogs()), start_ms=query.start_ms, end_ms=query.end_ms,
                             size=query.size, facets=FACETS if query.facets else (), facet_size=FACET_SIZE,
                             histogram_ms=HOUR_MS if query.facets else None, total_bound=HUGE,
                             facet_bound=HUGE, budget_ms=HUGE, now_ms=query.end_ms)

    def run(self, query: Query) -> Answer:
        result = self.store.search(self.request(query))
        return Answer(count=result.total, hits=[iso_ms(h["@timestamp"]) for h in result.hits],
                      facets={name: top_values((v.value, v.count) for v in f.values)
                              for name, f in result.facets.items()},
                      histogram=histogram((b.start_ms, b.count) for b in result.histogram),
                      exact=result.total_exact and not any(f.approximate or f.timed_out
                                                           for f in result.facets.values())
                      and not result.histogram_timed_out)

    def close(self) -> None:
        self.store.close()


class HttpQueries:
    """The seven queries through GET /api/v1/search as served (bounded totals, sampled facets)."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.headers = {"Authorization": f"Bearer {key}"}

    def run(self, query: Query) -> Answer:
        args = {"q": query.platlogs(), "from": str(query.start_ms), "to": str(query.end_ms), "size": str(query.size)}
        if query.facets:
            args.update(facets=",".join(FACETS), histogram="1h")
        self.conn.request("GET", "/api/v1/search?" + urlencode(args), headers=self.headers)
        response = self.conn.getresponse()
        body = orjson.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"GET /api/v1/search answered {response.status}: {body}")
        facets = {name: top_values((v["value"], v["count"]) for v in values)
                  for name, values in body.get("facets", {}).items()}
        exact = body["total"]["exact"] and all(s == "exact" for s in body.get("facet_status", {}).values())
        return Answer(count=body["total"]["value"], hits=[iso_ms(h["@timestamp"]) for h in body["hits"]],
                      facets=facets, exact=exact,
                      histogram=histogram((b["start_ms"], b["count"])
                                          for b in body.get("histogram", {}).get("buckets", [])))

    def close(self) -> None:
        self.conn.close()
