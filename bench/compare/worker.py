"""One system's ingest and queries in a process of its own, so its peak RSS is its own:
`python -m bench.compare.worker SPEC.json OUT.json` (the runner writes SPEC, reads OUT)."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import orjson

from .common import Query, peak_rss_mb, time_query


def run_queries(queries_obj, queries: list[Query], repeat: int) -> dict:
    out = {}
    for query in queries:
        try:
            answer, timings = time_query(lambda q=query: queries_obj.run(q), repeat)
            out[query.key] = {"answer": answer.to_json(), "ms": timings}
        except Exception as exc:  # noqa: BLE001 (reported per query, the others still run)
            out[query.key] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
    return out


def main(spec_path: str, out_path: str) -> None:
    import os
    spec = orjson.loads(Path(spec_path).read_bytes())
    system, path, directory = spec["system"], Path(spec["path"]), Path(spec["directory"])
    queries = [Query(**q) for q in spec.get("queries", [])]
    result: dict = {"system": system}
    try:
        if system == "project-inprocess":
            from .project import ingest_inprocess
            result["ingest"] = ingest_inprocess(path, directory, spec["kind"])
            result["ingest"]["peak_rss_mb"] = peak_rss_mb([os.getpid()])
        elif system == "project-store":
            from .project import StoreQueries, store_url
            store = StoreQueries(store_url(spec["kind"], directory))
            result["queries"] = run_queries(store, queries, spec["repeat"])
            store.close()
        else:
            from .peers import PEERS
            peer = PEERS[system]
            if spec.get("ingest", True):
                result["ingest"] = peer.ingest(path, directory)
                result["ingest"]["peak_rss_mb"] = peak_rss_mb([os.getpid()])
            if queries:
                runner = peer.Queries(directory)
                result["queries"] = run_queries(runner, queries, spec["repeat"])
                runner.close()
    except Exception as exc:  # noqa: BLE001 (the runner reports it and goes on with the others)
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    Path(out_path).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
