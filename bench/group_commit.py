"""Group commit on the embedded store: many threads sending small batches, as shippers do.

    .venv/bin/python bench/group_commit.py                    # 40,000 demo events, batches of 512
    .venv/bin/python bench/group_commit.py --batch 100 --threads 16

The same normalised demo events are written into a fresh tantivy store three ways:
  one-big      one thread, batches of 10,000 (PLATLOGS_BATCH_SIZE): the reference;
  small-alone  --threads threads, batches of --batch, with grouping off (each batch its own commit);
  small-group  the same with group commit (app/storage/group_commit.py), as the server runs.
Printed: CPU µs per event (the process's CPU time: this machine is shared, and wall time would
mostly measure the others), commits made, and each as a ratio to one-big. The OpenTelemetry
SDK's batch processor exports 512 records at a time, hence the default.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import config, services  # noqa: E402
from app.demo.generator import generate  # noqa: E402
from app.ingest.items import refuse_duplicates  # noqa: E402
from app.ingest.ndjson import parse_json  # noqa: E402
from app.storage import tantivy_store  # noqa: E402


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(events: list[dict], batch: int, threads: int, group: bool, workdir: str) -> tuple[float, int]:
    tantivy_store.GROUP_EVENTS = 50_000 if group else 1
    store = tantivy_store.TantivyStore(Path(tempfile.mkdtemp(dir=workdir)), rollups=False)
    batches = [events[i:i + batch] for i in range(0, len(events), batch)]
    lock = threading.Lock()

    def sender() -> None:
        while True:
            with lock:
                if not batches:
                    return
                mine = batches.pop()
            store.write(mine)

    start = cpu()
    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    used = cpu() - start
    commits = store.commits
    store.close()
    return used / len(events) * 1e6, commits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)
    lines = [orjson.dumps(e) for e in generate(args.events, days=7, seed=7, end=end)]
    normalizer = services.build_normalizer(config.Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.gettempdir()}))
    now = time.time_ns() // 1_000_000
    events = [normalizer.normalize(parse_json(line), now, line, refuse_duplicates) for line in lines]
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as workdir:
        rows = [("one-big", *run(copy.deepcopy(events), 10_000, 1, True, workdir)),
                ("small-alone", *run(copy.deepcopy(events), args.batch, args.threads, False, workdir)),
                ("small-group", *run(copy.deepcopy(events), args.batch, args.threads, True, workdir))]
    reference = rows[0][1]
    print(f"{args.events:,} demo events; small batches of {args.batch} from {args.threads} threads; "
          "CPU µs per event (store.write: document conversion, indexing, commits and merges)")
    for name, us, commits in rows:
        print(f"  {name:12s} {us:7.1f} µs/event  {commits:5d} commits  {us / reference:5.2f}x one-big")


if __name__ == "__main__":
    main()
