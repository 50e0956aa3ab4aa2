"""The runner: data, each system in turn (a process of its own), the count check and the report.
See the package docstring (bench/compare/__init__.py) for what is measured and how to run it."""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import orjson

from . import __doc__ as DOC
from .common import (ROOT, Answer, Query, data_file, disagreements, du_bytes, make_queries, pct, pick_values,
                     time_query)
from .peers import PEERS

SYSTEMS = ("project", "sqlite", "tantivy", "duckdb", "chdb")
LABELS = {
    "project-http": "Platform Logs, `POST /api/v1/events/bulk`, {senders} senders × {batch:,}",
    "project-inprocess": "Platform Logs in-process (normalize + store.write, no HTTP)",
    "project-served": "Platform Logs as served (HTTP)",
    "project": "Platform Logs, exact counts",
    "sqlite": "raw SQLite",
    "tantivy": "tantivy",
    "duckdb": "DuckDB",
    "chdb": "chDB",
}
QUERY_COLUMNS = ("project-served", "project", "sqlite", "tantivy", "duckdb", "chdb")


def _load() -> list[float] | None:
    try:
        return [round(x, 1) for x in os.getloadavg()]
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_worker(spec: dict, workdir: Path, log) -> dict:
    """Run bench.compare.worker with `spec` in a child process; its JSON result."""
    spec_path = workdir / f"spec-{spec['system']}.json"
    out_path = workdir / f"out-{spec['system']}.json"
    spec_path.write_bytes(orjson.dumps(spec))
    out_path.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "bench.compare.worker", str(spec_path), str(out_path)], cwd=ROOT,
                          stdout=log, stderr=subprocess.STDOUT)
    if not out_path.exists():
        return {"error": f"the worker exited with {proc.returncode} and no result (see its output above)"}
    return orjson.loads(out_path.read_bytes())


def summarize(queries_out: dict) -> dict:
    """{query key: {p50, p95, answer | error}} from a worker's or this process's timings."""
    out = {}
    for key, item in queries_out.items():
        if "error" in item:
            out[key] = {"error": item["error"]}
        else:
            out[key] = {"p50": pct(item["ms"], 50), "p95": pct(item["ms"], 95), "answer": item["answer"],
                        "runs": len(item["ms"])}
    return out


def machine() -> dict:
    from .common import ram_bytes
    from .peers import version
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    import sqlite3
    return {"cores": os.cpu_count(), "cpu": model, "ram_gb": round(ram_bytes() / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform(), "commit": commit,
            "versions": {"sqlite": sqlite3.sqlite_version, "tantivy": version("tantivy"), "duckdb": version("duckdb"),
                         "chdb": PEERS["chdb"].version(), "psutil": version("psutil")}}


# -- the report ---------------------------------------------------------------------------

def _n(value: float, digits: int = 1) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(value: float) -> str:
    return f"{value:,.0f}×" if value >= 10 else f"{value:.1f}×" if value >= 0.95 else f"{value:.2f}×"


def _versus(mine: dict | None, peers: dict) -> str:
    """'47× slower than tantivy' (p50 and p95 against the best peer at each), or '—'."""
    if not mine or "p50" not in mine or not peers:
        return "—"
    parts = []
    for p in ("p50", "p95"):
        best = min(peers, key=lambda n: peers[n][p])
        ratio = mine[p] / max(peers[best][p], 1e-9)
        parts.append((ratio, best))
    def words(ratio: float, best: str) -> str:
        return (f"{_ratio(ratio)} slower than" if ratio >= 1 else f"{_ratio(1 / ratio)} faster than"), LABELS[best]
    (r50, b50), (r95, b95) = parts
    (w50, n50), (w95, n95) = words(r50, b50), words(r95, b95)
    if n50 == n95 and (r50 >= 1) == (r95 >= 1):
        return f"{w50.split()[0]} / {w95}".replace(" than", "") + f" than {n50}"
    return f"p50 {w50} {n50}; p95 {w95} {n95}"


def ingest_table(results: dict, events: int) -> list[str]:
    rows = ["| ingest of the same file | events/s | bytes on disk per event | peak RSS | vs the best peer |",
            "|---|---|---|---|---|"]
    ingest = {name: r["ingest"] for name, r in results.items() if r.get("ingest") and r["ingest"].get("seconds")}
    peers = {n: i for n, i in ingest.items() if n in PEERS}
    best_rate = max(peers, key=lambda n: peers[n]["rate"], default=None)
    best_disk = min(peers, key=lambda n: peers[n]["bytes_per_event"], default=None)
    best_rss = min(peers, key=lambda n: peers[n]["peak_rss_mb"], default=None)
    for name, item in ingest.items():
        vs = "—"
        if name.startswith("project") and best_rate:
            vs = (f"rate {_ratio(item['rate'] / peers[best_rate]['rate'])} {LABELS[best_rate]}'s; "
                  f"disk {_ratio(item['bytes_per_event'] / peers[best_disk]['bytes_per_event'])} {LABELS[best_disk]}'s; "
                  f"RSS {_ratio(item['peak_rss_mb'] / peers[best_rss]['peak_rss_mb'])} {LABELS[best_rss]}'s")
        rows.append(f"| {item['label']} | {item['rate']:,.0f} | {item['bytes_per_event']:,.0f} | "
                    f"{item['peak_rss_mb']:,.0f} MB | {vs} |")
    return rows


def query_table(results: dict, queries: list[Query]) -> list[str]:
    present = [c for c in QUERY_COLUMNS if results.get(c, {}).get("queries")]
    ratio_heads = [h for name, h in (("project", "exact counts vs the best peer (p50 / p95)"),
                                     ("project-served", "as served vs the best peer")) if name in present]
    head = "| query (p50 / p95 ms) | " + " | ".join([LABELS[c] for c in present] + ratio_heads) + " |"
    rows = [head, "|---" * (len(present) + len(ratio_heads) + 1) + "|"]
    for query in queries:
        cells = []
        for name in present:
            item = results[name]["queries"].get(query.key, {})
            if "error" in item:
                cells.append("error")
                continue
            cell = f"{_n(item['p50'])} / {_n(item['p95'])}"
            if name == "project-served":
                answer = item["answer"]
                if not answer["exact"]:
                    cell += f" (count {answer['count']:,}, not exact)" if query.facets or answer["count"] else " (sampled)"
            cells.append(cell)
        peers = {n: results[n]["queries"][query.key] for n in PEERS
                 if results.get(n, {}).get("queries", {}).get(query.key, {}).get("p50") is not None}
        vs = [_versus(results.get(name, {}).get("queries", {}).get(query.key), peers)
              for name in ("project", "project-served") if name in present]
        rows.append(f"| {query.label} | " + " | ".join(cells) + " | " + " | ".join(vs) + " |")
    return rows


def count_table(results: dict, queries: list[Query]) -> list[str]:
    present = [c for c in QUERY_COLUMNS if results.get(c, {}).get("queries")]
    rows = ["| query: count | " + " | ".join(LABELS[c] for c in present) + " | |", "|---" * (len(present) + 2) + "|"]
    for query in queries:
        cells = []
        for name in present:
            item = results[name]["queries"].get(query.key, {})
            cells.append("error" if "error" in item else f"{item['answer']['count']:,}"
                         + ("" if item["answer"]["exact"] else " (bounded)"))
        rows.append(f"| {query.key}. {query.label} | " + " | ".join(cells) + f" | {results['_agree'].get(query.key, '')} |")
    return rows


def report(results: dict, queries: list[Query], args, info: dict) -> str:
    m = info["machine"]
    lines = [f"# bench/compare: {args.events:,} demo events over 30 days, one run",
             "",
             f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, {m['os']}; "
             f"platform-logs {m['commit']}, store `{args.store}`; SQLite {m['versions']['sqlite']}, "
             f"tantivy {m['versions']['tantivy']}, DuckDB {m['versions']['duckdb']}, chDB {m['versions']['chdb']}.",
             f"Load average (1, 5, 15 min) at the start {info.get('load_start')}, at the end {info.get('load_end')}: "
             "other work on the machine slows every system; compare the ratios.",
             f"File: {info['file_bytes'] / 1e6:,.0f} MB of NDJSON ({info['file_bytes'] / args.events:,.0f} bytes an event). "
             f"Queries: {args.repeat} runs each after 3 warm-ups.",
             ""]
    lines += ingest_table(results, args.events)
    lines.append("")
    lines += query_table(results, queries)
    lines.append("")
    lines += count_table(results, queries)
    notes = info.get("notes", [])
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


# -- the run ------------------------------------------------------------------------------

def check_counts(results: dict, queries: list[Query]) -> tuple[dict, list[str]]:
    """{query key: 'agree' | 'DISAGREE'} and the loud lines for those that do not."""
    verdicts, loud = {}, []
    order = ["project", "sqlite", "tantivy", "duckdb", "chdb", "project-served"]
    for query in queries:
        answers = {}
        for name in order:
            item = results.get(name, {}).get("queries", {}).get(query.key)
            if item and "answer" in item:
                answers[name] = Answer(**item["answer"])
        problems = disagreements(query, answers)
        exact = [n for n, a in answers.items() if a.exact]
        verdicts[query.key] = ("DISAGREE" if problems else f"agree ({len(exact)} exact)")
        for problem in problems:
            loud.append(f"DISAGREE {query.key}. {query.label}: {problem}")
    return verdicts, loud


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=DOC,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the file (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=30, help="measured runs of each query (default 30)")
    parser.add_argument("--only", default=",".join(SYSTEMS),
                        help=f"systems to run, comma-separated (default all: {','.join(SYSTEMS)})")
    parser.add_argument("--store", default="sqlite", help="the project's store: sqlite (default) or tantivy")
    parser.add_argument("--senders", type=int, default=2, help="HTTP sender threads (default 2)")
    parser.add_argument("--batch", type=int, default=5000, help="events per HTTP batch (default 5,000)")
    parser.add_argument("--seed", type=int, default=12, help="the generator's seed (default 12)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "bench",
                        help="where the data file is kept and the systems' directories are made (default var/bench)")
    parser.add_argument("--keep", action="store_true", help="keep the systems' directories")
    parser.add_argument("--no-http-search", action="store_true", help="skip the as-served HTTP search row group")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SYSTEMS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    path, end_ms = data_file(args.events, args.seed, args.work_dir)
    picks = pick_values(path, end_ms)
    queries = make_queries(picks, end_ms)
    info = {"machine": machine(), "file": str(path), "file_bytes": path.stat().st_size, "picks": picks, "notes": [],
            "load_start": _load()}
    print(f"data: {path} ({info['file_bytes'] / 1e6:,.0f} MB, {picks['events']:,} events); query values: "
          f"actor.id={picks['actor.id']!r} correlation.id={picks['correlation.id']!r} rare={picks['rare_word']!r} "
          f"common={picks['common_word']!r} phrase={picks['phrase']!r}", flush=True)
    specs = [asdict(q) for q in queries]
    results: dict = {}
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.work_dir))
    log = sys.stdout
    try:
        if "project" in args.only:
            run_project(args, path, queries, specs, run_dir, results, info, log)
        for name in args.only:
            if name == "project":
                continue
            peer = PEERS[name]
            why = peer.available()
            if why:
                info["notes"].append(f"{LABELS[name]} skipped: {why}")
                print(f"{name}: skipped: {why}", flush=True)
                continue
            print(f"{name}: ingest and queries ...", flush=True)
            directory = run_dir / name
            out = in_worker({"system": name, "path": str(path), "directory": str(directory), "queries": specs,
                             "repeat": args.repeat}, run_dir, log)
            record(results, name, out, peer.label, info)
            if not args.keep:
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    info["load_end"] = _load()
    verdicts, loud = check_counts(results, queries)
    results["_agree"] = verdicts
    text = report(results, queries, args, info)
    print()
    print(text)
    for line in loud:
        print(line)
    if not loud:
        print("\nEvery exact count, facet and histogram agrees across the systems.")
    failures = [n for n in info["notes"] if "failed" in n]
    for line in failures:
        print(f"FAILED {line}")
    out = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "info": info,
           "queries": specs, "results": results, "disagreements": loud, "failures": failures, "table": text}
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return out


def record(results: dict, name: str, out: dict, label: str, info: dict) -> None:
    entry: dict = {}
    if out.get("error"):
        info["notes"].append(f"{LABELS.get(name, name)}: failed: {out['error']}")
        print(f"{name}: FAILED: {out['error']}", flush=True)
    ingest = out.get("ingest")
    if ingest:
        ingest["label"] = label
        ingest["rate"] = ingest["events"] / ingest["seconds"] if ingest["seconds"] else 0
        ingest["bytes_per_event"] = ingest["disk_bytes"] / max(ingest["events"], 1)
        if ingest.get("note"):
            info["notes"].append(f"{LABELS.get(name, name)}: {ingest['note']}")
        entry["ingest"] = ingest
        print(f"{name}: {ingest['events']:,} events in {ingest['seconds']:.1f} s = {ingest['rate']:,.0f}/s, "
              f"{ingest['bytes_per_event']:,.0f} B/event, peak RSS {ingest['peak_rss_mb']:,.0f} MB", flush=True)
    if out.get("queries"):
        entry["queries"] = summarize(out["queries"])
        for key, item in entry["queries"].items():
            if "error" in item:
                print(f"{name}: query {key} failed: {item['error']}", flush=True)
                info["notes"].append(f"{LABELS.get(name, name)}: query {key} failed: {item['error']}")
    results.setdefault(name, {}).update(entry)


def checkpoint(directory: Path) -> None:
    """A SQLite store's write-ahead log folded into the file, as its last connection closing does
    (gunicorn's workers, stopped by a signal, may not close theirs): disk is measured without it."""
    import sqlite3
    for db in directory.glob("*.db"):
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def run_project(args, path: Path, queries: list[Query], specs: list, run_dir: Path, results: dict, info: dict,
                log) -> None:
    from .project import HttpQueries, Server, ingest_http, store_available
    why = store_available(args.store)
    if why:
        info["notes"].append(f"Platform Logs skipped: {why}")
        print(f"project: skipped: {why}", flush=True)
        return
    # over HTTP: the served store is the one the exact queries then read
    workdir = run_dir / "project-http"
    print(f"project: platlogs serve ({args.store} store), {args.senders} senders × {args.batch:,} ...", flush=True)
    server = Server(workdir, free_port(), args.store)
    try:
        ingest = ingest_http(server, path, args.senders, args.batch)
        ingest["label"] = LABELS["project-http"].format(senders=args.senders, batch=args.batch)
        if ingest["errors"]:
            info["notes"].append(f"Platform Logs HTTP ingest: {ingest['rejected']:,} rejected, e.g. {ingest['errors'][0]}")
        info["notes"].append(f"Platform Logs HTTP ingest: CPU seconds per server process {ingest['cpu_seconds']}")
        if not args.no_http_search:
            print("project: queries over HTTP (as served) ...", flush=True)
            client = HttpQueries(server.port, server.read_key)
            served = {}
            for query in queries:
                try:
                    answer, timings = time_query(lambda q=query: client.run(q), args.repeat)
                    served[query.key] = {"answer": answer.to_json(), "ms": timings}
                except Exception as exc:  # noqa: BLE001
                    served[query.key] = {"error": f"{type(exc).__name__}: {exc}"}
            client.close()
            record(results, "project-served", {"queries": served}, LABELS["project-served"], info)
    finally:
        server.stop()
    checkpoint(workdir / "events")
    ingest["disk_bytes"] = du_bytes(workdir / "events")
    record(results, "project-http", {"ingest": ingest}, ingest["label"], info)
    print("project: queries through the store API, exact counts ...", flush=True)
    out = in_worker({"system": "project-store", "kind": args.store, "path": str(path),
                     "directory": str(workdir / "events"), "queries": specs, "repeat": args.repeat}, run_dir, log)
    record(results, "project", out, LABELS["project"], info)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    # in-process, no HTTP
    print("project: in-process ingest (normalize + store.write) ...", flush=True)
    workdir = run_dir / "project-inprocess"
    out = in_worker({"system": "project-inprocess", "kind": args.store, "path": str(path),
                     "directory": str(workdir)}, run_dir, log)
    record(results, "project-inprocess", out, LABELS["project-inprocess"], info)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
