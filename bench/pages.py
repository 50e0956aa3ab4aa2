"""Page render times on a demo store: p50 / p95 per page, server side (Flask test client, a
signed-in administrator; the reading trail is written as in production).

    PLATLOGS_DATA_DIR=/tmp/bench-5m .venv/bin/platlogs demo --events 5000000 --days 30
    .venv/bin/python bench/pages.py /tmp/bench-5m

The target (issue 5): p95 under 200 ms for every page on the 5-million-event demo store; issue 14:
the integration health pages and every shipped dashboard at p95 <= 300 ms over 30 days."""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.query import parse  # noqa: E402
from app.storage import SearchRequest  # noqa: E402
from app.events.schema import get_path  # noqa: E402


def sample(store, field: str, rng: random.Random, count: int) -> list[str]:
    values: list[str] = []
    parts = store.partitions()
    while len(values) < count:
        part = rng.choice(parts[-7:])
        start = rng.randrange(part.start_ms, part.end_ms - 600_000)
        hits = store.search(SearchRequest(start_ms=start, end_ms=start + 600_000, size=200, total_bound=0)).hits
        found = [get_path(h, field) for h in hits if get_path(h, field)]
        if found:
            values.append(rng.choice(found))
    return values


def pages(store, rng: random.Random) -> list[tuple[str, str]]:
    players = sample(store, "actor.id", rng, 5)
    events = [h["event"]["id"] for h in store.search(SearchRequest(query=parse("correlation.id:*"), size=5,
                                                                   total_bound=0)).hits]
    tx = sample(store, "payment.transaction_id", rng, 3)
    out = [("search: last 24 h, 7 facets, histogram", "/"),
           ("search: a word, 7 days", "/?q=declined&from=now-7d"),
           ("search: a field, 30 days", "/?q=log.level:error&from=now-30d"),
           ("search: a player, 30 days", f"/?q=actor.id:{players[0]}&from=now-30d"),
           ("search: page 2", None),
           ("event page", f"/events/{events[0]}"),
           ("surrounding events by correlation", f"/events/{events[1]}/context?by=correlation.id"),
           ("live tail page", "/tail?q=log.level:error")]
    control = [("timeline of a transaction", f"/timeline?by=payment.transaction_id&value={tx[0]}&from=now-30d"),
               ("error history, 24 h", "/errors"), ("user actions of a player, 30 days", f"/players?player={players[1]}&from=now-30d"),
               ("admin operations, 24 h", "/admin-operations"), ("API activity, 24 h", "/api-activity"),
               ("integration status, 24 h", "/integrations")]
    # issue 14: the integration health pages and every shipped dashboard over 30 days (exact)
    provider = (store.search(SearchRequest(query=parse("integration.provider:*"), size=1, total_bound=0)).hits or [{}])[0]
    health = [("integration health, 7 days", "/health")]
    if get_path(provider, "integration.provider"):
        health.append(("provider page, 30 days", f"/health/{get_path(provider, 'integration.provider')}?from=now-30d"))
    boards = [(f"dashboard {board}, 30 days", f"/dashboards/{board}?from=now-30d")
              for board in ("integration-health", "platform-overview", "payments", "api", "security")]
    return out + control + health + boards


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    app = create_app({"PLATLOGS_DATA_DIR": args.data_dir})
    services = app.extensions["platlogs"]
    app.config["WTF_CSRF_ENABLED"] = False
    name = f"bench-{os.getpid()}"
    services.meta.create_user(name, "administrator", "bench-password-1")
    client = app.test_client()
    assert client.post("/login", data={"username": name, "password": "bench-password-1"}).status_code == 302
    print(f"store: {services.store.count():,} events; {os.cpu_count()} cores")
    plan = pages(services.store, random.Random(3))
    first = client.get("/").get_data(as_text=True)
    older = re.search(r'<a rel="next" href="([^"]+)"', first)
    plan = [(label, url if url else (older.group(1).replace("&amp;", "&") if older else "/")) for label, url in plan]
    timings: dict[str, list[float]] = {}
    for round_ in range(args.repeat + 1):
        for label, url in plan:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code == 404 and label.startswith(("timeline", "error", "user", "admin", "API", "integ",
                                                                 "provider", "dashboard")):
                continue   # a control view this build does not have
            assert response.status_code == 200, (label, url, response.status_code)
            if round_:   # the first round warms caches
                timings.setdefault(label, []).append(elapsed)
    print(f"{'page':44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, values in timings.items():
        print(f"{label:44} {len(values):4} {pct(values, 50):8.1f} {pct(values, 95):8.1f} {max(values):8.1f}")
    worst = max(pct(v, 95) for v in timings.values())
    print(f"worst p95: {worst:.0f} ms (target < 200 ms)")
    services.close()


if __name__ == "__main__":
    main()
