"""The tantivy document of an event: Python (`Converter.python_document`, the reference) against
Rust (`platlogs_native`, app/storage/native_docs.py), in one run on the same events.

    .venv/bin/python bench/native_docs.py                 # 30,000 demo events, best of 3
    .venv/bin/python bench/native_docs.py --events 100000 --repeat 5

Events: demo events (`app.demo.generator.generate`) normalised as ingest does, outside the clock.
The codec is a real DocumentCodec with a trained dictionary (as in a store past its first 2,000
events). Timed (CPU time of the process, best of --repeat, the variants alternating):
  python    Converter.python_document(event, seq, ts): zstd encode, dict copies, searchable(),
            identifier walk, orjson.dumps of the line;
  native    Converter.document: orjson.dumps of the event, zstd encode of those bytes, the line
            in Rust (what the store runs when platlogs_native is installed);
  core      the Rust call alone, given the event's bytes and stored form;
  stored    what native spends outside Rust on every event: orjson.dumps and the zstd encode.
Printed: CPU µs per event of each, python/native, and how many events native declined.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

clock = time.process_time


def events(n: int) -> list[dict]:
    from app.config import Settings
    from app.demo.generator import generate
    from app.events.convert import EventError
    from app.services import build_normalizer
    end = datetime(2026, 11, 17, tzinfo=timezone.utc)
    normalizer = build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": tempfile.gettempdir()}))
    out = []
    for raw in generate(n, days=7, seed=7, end=end):
        line = orjson.dumps(raw)
        try:
            event = normalizer.normalize(orjson.loads(line), int(end.timestamp() * 1000), line)
        except EventError:
            continue
        for key in ("_client_id", "_ts", "_columns"):
            event.pop(key, None)
        out.append(event)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from app.storage import native_docs
    from app.storage.tantivy_docs import DocumentCodec
    from app.storage.tantivy_schema import Converter
    if native_docs.builder() is None:
        sys.exit("platlogs_native is not installed (pip install ./native), or PLATLOGS_NATIVE=0")
    sample = events(args.events)
    codec = DocumentCodec(Path(tempfile.mkdtemp()))
    for event in sample[:2_100]:            # trains the dictionary, as a store does
        codec.encode(event)
    converter = Converter(codec.encode, codec.encode_json)
    builder = converter.native
    seq0, ts = 1_763_000_000_000 << 22, 1_763_000_000_000
    inputs = [(orjson.dumps(e), codec.encode(e)) for e in sample]

    def python() -> float:
        document = converter.python_document
        started = clock()
        for i, event in enumerate(sample):
            document(event, seq0 + i, ts)
        return clock() - started

    def native() -> float:
        document = converter.document
        started = clock()
        for i, event in enumerate(sample):
            document(event, seq0 + i, ts)
        return clock() - started

    def core() -> float:
        document = builder.document
        started = clock()
        for i, (raw, stored) in enumerate(inputs):
            document(raw, stored, seq0 + i, ts)
        return clock() - started

    def stored() -> float:
        encode = codec.encode_json
        started = clock()
        for event in sample:
            encode(orjson.dumps(event))
        return clock() - started

    declined = sum(builder.document(raw, stored, 1, 2) is None for raw, stored in inputs)
    best = dict.fromkeys(("python", "native", "core", "stored"), float("inf"))
    gc.disable()
    for _ in range(args.repeat):
        for name, run in (("python", python), ("native", native), ("core", core), ("stored", stored)):
            best[name] = min(best[name], run())
    gc.enable()
    n = len(sample)
    for name, seconds in best.items():
        print(f"{name:7s} {seconds / n * 1e6:7.2f} CPU µs/event")
    print(f"python/native {best['python'] / best['native']:.2f}   python/core {best['python'] / best['core']:.2f}")
    print(f"declined by native: {declined} of {n} events")


if __name__ == "__main__":
    main()
