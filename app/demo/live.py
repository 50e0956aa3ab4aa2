"""Live demo traffic: a trickle of events stamped now, with an incident every few minutes, so the
live tail, the alerts and the integration status move while someone looks at the demo.

`Trickle` is the simulated platform of generator.py on the wall clock — the same stories, and the
same players and employees as the stored demo (`platlogs demo` with the same --events and
--seed builds the same people), so a live player's history continues the demo's: `due(now_ms)`
starts the stories of the time since the last call — about `rate` events a second — and returns
the events whose time has come (a visit's later events come out later, when their time comes),
in time order, stamped with their time. Every `incident_every_s` seconds one incident is planted, in turn:

- a brute-force login burst from one IP address (36 failed logins in 3-6 minutes: the
  brute-force-login-per-ip rule fires),
- a payment or game provider failing for 4 minutes (timeouts, the circuit breaker, players'
  deposits or game sessions failing: the provider turns "failing" on the Integrations page and
  integration-failing-per-provider fires),
- an error spike in one service (45 errors in 2 minutes: error-spike-per-service fires).

`run(ingest, stop)` calls `due` every second and hands the events to `ingest` (a list of dicts)
until `stop` is set. The command `python -m app.demo.live` (what ./scripts/demo starts beside the
server) stores them through the application's ingest pipeline (services.ingestor, the
Ingestor every other path uses), stops on SIGTERM / SIGINT or when the process it watches
(`--watch-pid`, the demo script) is gone, and closes the store. Standard library only, apart
from that command's use of the application.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable

from ..events.convert import format_ts
from . import catalog as C
from .events import MIN
from .generator import _Sim

__all__ = ["INCIDENTS", "Trickle", "run"]

INCIDENTS = ("brute_force", "provider_outage", "error_spike")
FAR = 2**62  # the simulation's end: never (events are pushed at their own time)
STORY_ROOM = 60  # at most this many events in one story (a visit with a game session)
MAX_CATCH_UP_MS = 10_000  # after a pause (a slow store, a suspended laptop): start again from now


def stamp(ts_ms: int) -> str:
    return format_ts(ts_ms)


class Trickle:
    def __init__(
        self,
        rate: float = 3.0,
        incident_every_s: float = 240.0,
        seed: int | None = 42,
        start_ms: int | None = None,
        first_incident_s: float = 60.0,
        population: int = 200_000,
    ):
        if rate <= 0:
            raise ValueError("rate: events per second, more than 0")
        self.rate = rate
        self.incident_every_ms = int(incident_every_s * 1000) if incident_every_s and incident_every_s > 0 else 0
        now = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        # the players and employees of `platlogs demo --events population --seed seed`: the same people go on
        self.sim = _Sim(population, now, FAR, random.Random(seed))
        self.clock = now  # stories are started up to here
        self.credit = 0.0  # events owed to the rate
        self.next_incident = now + int(first_incident_s * 1000) if self.incident_every_ms else None
        self.incidents: list[tuple[int, str, str]] = []  # (when, kind, what): what was planted
        self._turn = 0

    def due(self, now_ms: int) -> list[dict]:
        """Start the stories of (clock, now] and return every event due by now, oldest first."""
        sim, r = self.sim, self.sim.r
        if now_ms - self.clock > MAX_CATCH_UP_MS:
            self.clock = now_ms - MAX_CATCH_UP_MS
        span = max(0, now_ms - self.clock)
        self.credit += self.rate * span / 1000
        start = self.clock
        while self.credit >= 1:
            t = start + int(r() * span) if span else now_ms
            x = r()
            if x < 0.585:
                sim.push(t, sim.bg_api())
                self.credit -= 1
            else:
                self.credit -= max(1, sim.story(t, x, STORY_ROOM))
        self.clock = now_ms
        while self.next_incident is not None and self.next_incident <= now_ms:
            self.incident(self.next_incident)
            self.next_incident += self.incident_every_ms
        return self._pop(now_ms)

    def _pop(self, now_ms: int) -> list[dict]:
        heap, out = self.sim.heap, []
        while heap and heap[0][0] <= now_ms:
            ts, _, item = heapq.heappop(heap)
            if item.__class__ is not dict:  # a task (a game session): it pushes its next round
                wake = next(item, None)
                if wake is not None:
                    self.sim.push(wake, item)
                continue
            item["@timestamp"] = stamp(ts)
            out.append(item)
        return out

    # incidents -----------------------------------------------------------------------------------

    def incident(self, t: int, kind: str | None = None) -> str:
        """Plant the next incident (or `kind`) starting at t; returns what it is, in words."""
        if kind is None:
            kind, self._turn = INCIDENTS[self._turn % len(INCIDENTS)], self._turn + 1
        what = getattr(self, "_" + kind)(t)
        self.incidents.append((t, kind, what))
        return what

    def _brute_force(self, t: int) -> str:
        before = len(self.sim.heap)
        self.sim.brute_force(t, 1.0, takeover=False)
        return f"brute-force login burst ({len(self.sim.heap) - before} events from one address)"

    def _provider_outage(self, t: int) -> str:
        sim, r = self.sim, self.sim.r
        pay = C.PAYMENT_PROVIDERS[int(r() * 2)][0]
        game = C.GAME_PROVIDERS[int(r() * len(C.GAME_PROVIDERS))][0]
        prov = pay if r() < 0.5 else game
        kind, svc = ("payment", "payment-service") if prov == pay else ("game", "game-service")
        dur = 4 * MIN
        sim.out_prov, sim.out_s, sim.out_e = prov, t, t + dur
        sim.integ(
            t + 20_000,
            prov,
            kind,
            "circuit-breaker",
            "outbound",
            "circuit_open",
            0.0,
            svc,
            {"type": "service", "id": svc},
            level="critical",
            msg=f"Circuit breaker OPEN for {prov}: 20 consecutive timeouts",
        )
        sim.err(
            t + 30_000,
            svc,
            "ProviderUnavailableError",
            f"{prov} unavailable: 100% of calls timing out",
            C.TIMEOUT_TRACE.format(svc=svc.split("-")[0], provider=prov),
            "PROVIDER_DOWN",
            "critical",
        )
        monitor = {"type": "service", "id": "integration-monitor"}
        for k in range(0, dur, 10_000):
            sim.integ(
                t + k + 5000, prov, kind, "GET /health", "outbound", "timeout", 30000.0, svc, dict(monitor), level="error"
            )
        for _ in range(8):  # players meet it
            p, tt, sid = sim.player(), t + int(r() * dur), "sess-" + sim.hx()
            if kind == "payment":
                sim.deposit(tt, p, sid, p.ip, [q[0] for q in C.PAYMENT_PROVIDERS].index(prov))
            else:
                sim.game(tt, p, sid, p.ip, 30, [g[0] for g in C.GAME_PROVIDERS].index(prov))
        sim.integ(
            t + dur + 30_000,
            prov,
            kind,
            "GET /health",
            "outbound",
            "ok",
            85.2,
            svc,
            monitor,
            level="notice",
            msg=f"{prov} healthy again after {dur // MIN} min; circuit breaker CLOSED",
        )
        return f"{prov} failing for {dur // MIN} min"

    def _error_spike(self, t: int) -> str:
        sim, r = self.sim, self.sim.r
        svc, etype, emsg, trace = C.SPIKE_ERROR
        for _ in range(45):
            tt, p, cid = t + int(r() * 2 * MIN), sim.player(), sim.uuid()
            sim.err(
                tt,
                svc,
                etype,
                emsg,
                trace,
                "DB_SCHEMA",
                "critical" if r() < 0.1 else "error",
                actor={"type": "player", "id": p.id},
                cid=cid,
            )
        return f"error spike in {svc} (45 errors in 2 min)"


def run(
    ingest: Callable[[list[dict]], object],
    stop: threading.Event,
    *,
    rate: float = 3.0,
    incident_every_s: float = 240.0,
    tick_s: float = 1.0,
    seed: int | None = 42,
    population: int = 200_000,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    echo: Callable[[str], None] = lambda line: None,
) -> int:
    """Every tick, the events due go to `ingest`, until `stop` is set; returns how many."""
    trickle = Trickle(rate, incident_every_s, seed, start_ms=now_ms(), population=population)
    sent, told = 0, 0
    while not stop.is_set():
        events = trickle.due(now_ms())
        if events:
            ingest(events)
            sent += len(events)
        for when, _kind, what in trickle.incidents[told:]:
            echo(f"demo traffic: incident at {stamp(when)}: {what}")
        told = len(trickle.incidents)
        stop.wait(tick_s)
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.demo.live", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("DEMO_RATE", "3")),
        help="events a second (default 3, or DEMO_RATE)",
    )
    parser.add_argument(
        "--incident-every",
        type=float,
        default=float(os.environ.get("DEMO_INCIDENT_EVERY", "240")),
        help="seconds between incidents, 0 for none (default 240, or DEMO_INCIDENT_EVERY)",
    )
    parser.add_argument("--watch-pid", type=int, default=0, help="stop when this process is gone")
    parser.add_argument("--seed", type=int, default=42, help="the demo's seed (its players and employees)")
    parser.add_argument(
        "--population",
        type=int,
        default=int(os.environ.get("DEMO_EVENTS", "200000")),
        help="the demo's --events (its player pool), default DEMO_EVENTS or 200000",
    )
    args = parser.parse_args(argv)

    import orjson

    from ..cli_common import _services  # the application: its settings, store and ingest pipeline

    services = _services()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.watch_pid:

        def watch() -> None:
            while not stop.wait(1.0):
                try:
                    os.kill(args.watch_pid, 0)
                except ProcessLookupError:
                    stop.set()

        threading.Thread(target=watch, daemon=True).start()

    def ingest(events: list[dict]) -> None:
        report = services.ingestor.ingest((i, orjson.dumps(e)) for i, e in enumerate(events))
        for error in report.errors[:3]:
            print(f"demo traffic: rejected {error}", file=sys.stderr)

    print(
        f"demo traffic: {args.rate:g} events/s, an incident every {args.incident_every:g} s (DEMO_LIVE=0 turns it off)",
        flush=True,
    )
    try:
        sent = run(
            ingest,
            stop,
            rate=args.rate,
            incident_every_s=args.incident_every,
            seed=args.seed,
            population=args.population,
            echo=lambda line: print(line, flush=True),
        )
    finally:
        services.close()
    print(f"demo traffic: stopped after {sent:,} events", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
