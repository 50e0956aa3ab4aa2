"""Deterministic, streaming demo traffic for Platform Logs (standard library only).

`generate(events, days, seed, end)` yields exactly `events` plain nested dicts shaped like
app/events/schema.yaml, in non-decreasing `@timestamp` order, spread over `days` days ending at
`end`. The only randomness is `random.Random(seed)`; the only clock is `end`.

Traffic is made of *stories* with shared ids, so one player can be followed across components:
a visit (login -> deposits, game sessions with rounds, sports bets, withdrawals, profile
changes, browsing -> logout), employees working in the back office, jobs and deploys, API
traffic and background errors. Incidents are placed relative to `end`: a provider outage
(~45 min, in the last day), an error spike after a bad deploy (followed by a rollback) and two
brute-force login bursts from one IP. About 10% of events carry no event.component/event.type
(errors with only error.*, requests with only http.*/url.*, employee actions with only
actor.type) so that the server's classifier has work to do.

How it runs: a virtual clock, bent by a day/night curve, gives each story its start time; a story
plans all of its events at once (so their number is known and the total comes out exact) and
pushes them, with their epoch-ms, onto a heap. The main loop pops everything due before the next
story starts, formats `@timestamp` from a per-minute prefix and yields. Long stories (game sessions)
push a *task* instead, a generator that renders one round at a time when its time comes, so few
event dicts live long (which keeps the garbage collector quiet). Memory depends on the traffic
rate and the player pool (at most 50,000 players), not on `events`.

Layout: this module holds `generate()`, the run loop and `_Sim`, the simulated world (players,
employees, hosts, the heap). `_Sim` gets its behaviour from mixins, one module each: events.py (event
constructors and ids), stories.py (player visits; their payments and games in stories_payments.py
and stories_games.py), background.py (anonymous traffic, provider pings, jobs, errors, back-office
work) and incidents.py (deploys and incidents); catalog.py holds the data.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

from ..events.convert import format_ts
from . import catalog as C
from .background import BackgroundTraffic
from .events import DAY, HOUR, MIN, Player
from .incidents import DeploysAndIncidents

__all__ = ["generate"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS: list[str] = []  # "SS.mmmZ" for every millisecond of a minute, built on first use
_HOURLY = (
    0.55,
    0.4,
    0.3,
    0.25,
    0.22,
    0.25,
    0.35,
    0.5,
    0.65,
    0.75,
    0.8,
    0.85,  # by UTC hour
    0.9,
    0.9,
    0.9,
    0.95,
    1.05,
    1.2,
    1.35,
    1.5,
    1.6,
    1.55,
    1.3,
    0.9,
)
_COUNTRIES = tuple(c for c in C.COUNTRIES for _ in range(c[3]))  # weighted: one index picks a country


def generate(events: int, days: int = 7, seed: int = 42, end: datetime | None = None) -> Iterator[dict]:
    """Yield exactly `events` events spread over the `days` days ending at `end` (default: now,
    UTC), in non-decreasing @timestamp order. Each event is an independent dict tree."""
    if events < 0 or days <= 0:
        raise ValueError("events must be >= 0 and days > 0")
    if end is None:
        end = datetime.now(UTC)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end_ms = (end - _EPOCH) // timedelta(milliseconds=1)
    return _run(events, end_ms - days * DAY, end_ms, random.Random(seed))


def _run(n_events: int, start: int, end: int, rng: random.Random) -> Iterator[dict]:
    sim = _Sim(n_events, start, end, rng)
    heap, pop, push = sim.heap, heapq.heappop, sim.push
    if n_events >= 100:
        sim.incidents(min(1.0, n_events / 1250))
        sim.routine_deploys(min((end - start) // DAY * 4 + 1, n_events // 500))
        if len(heap) > n_events // 2:
            heap.clear()
    budget = n_events - len(heap)
    # Story starts follow a day/night curve: a virtual clock x (uniform) is mapped to real time.
    bounds = [start, *range((start // HOUR + 1) * HOUR, end, HOUR), end]
    weights = [_HOURLY[(b // HOUR) % 24] * (1.15 if (b // DAY + 3) % 7 >= 5 else 1.0) for b in bounds[:-1]]
    cum = [0.0]
    for i, w in enumerate(weights):
        cum.append(cum[-1] + w * (bounds[i + 1] - bounds[i]))
    total, last = cum[-1], len(weights) - 1
    r, x, i, produced, stories, bg_api, story = rng.random, 0.0, 0, 0, 0, sim.bg_api, sim.story
    if not _TS:
        _TS.extend(f"{ms // 1000:02d}.{ms % 1000:03d}Z" for ms in range(MIN))
    tsuf, base, next_min, prefix = _TS, 0, 0, ""
    while True:
        remaining = budget - produced
        if remaining <= 0:
            t = end + 1
        else:
            while i < last and cum[i + 1] <= x:
                i += 1
            t = min(end, bounds[i] + int((x - cum[i]) / weights[i]))
        while heap and heap[0][0] <= t:
            ts, _, ev = pop(heap)
            if ev.__class__ is not dict:  # a task (a generator): run it, it pushes its events, then re-queue it
                wake = next(ev, None)
                if wake is not None:
                    push(wake, ev)
                continue
            if ts >= next_min:  # times only grow: one format_ts per minute
                base = ts - ts % MIN
                next_min, prefix = base + MIN, format_ts(base)[:17]
            ev["@timestamp"] = prefix + tsuf[ts - base]
            yield ev
        if remaining <= 0:
            return
        s = r()
        if s < 0.585 or remaining < 120:  # a single API request: no need to go through the heap
            ev = bg_api()
            if t >= next_min:
                base = t - t % MIN
                next_min, prefix = base + MIN, format_ts(base)[:17]
            ev["@timestamp"] = prefix + tsuf[t - base]
            yield ev
            produced += 1
        else:
            produced += story(t, s, remaining)
        stories += 1
        mean_k = produced / stories if stories > 20 else 3.0
        if produced < budget:  # advance the clock by about mean_k events' worth of the remaining time
            x = min(total, x + (total - x) / (budget - produced) * mean_k * 2.0 * r())


class _Sim(DeploysAndIncidents, BackgroundTraffic):  # (and PlayerStories, EventBuilders, SimState)
    """The simulated platform: its state lives here, its behaviour comes from the mixins.

    State the mixins share: `r` (rng.random) and `rng`, `push(ts, event_or_task)` onto `heap`, the
    window `S`..`E` (epoch ms), the id counter `n` with `salt48`/`salt128`, `hosts` and `versions` by
    service, `players`, `employees` (with `payers`, `admins`, `security`) and the outage window
    `out_prov`/`out_s`/`out_e`.
    """

    def __init__(self, n_events: int, start: int, end: int, rng: random.Random):
        self.rng, self.r, self.S, self.E = rng, rng.random, start, end
        self.heap: list = []
        heap, seq, hpush = self.heap, count().__next__, heapq.heappush

        def push(ts, ev):
            hpush(heap, (ts if ts < end else end, seq(), ev))

        self.push = push
        self.n, self.salt48, self.salt128 = 0, rng.getrandbits(48), rng.getrandbits(128)
        self.out_prov, self.out_s, self.out_e = None, 0, 0
        self.versions = {s: v for s, (v, _) in C.SERVICES.items()}
        self.hosts = {s: [f"{s}-{rng.getrandbits(20):05x}-{i}" for i in range(k)] for s, (_, k) in C.SERVICES.items()}
        self.players = [self._player(i) for i in range(max(60, min(50_000, n_events // 40)))]
        for k, name in enumerate(C.SPECIAL_NAMES):  # hostile-but-legit names on active players
            self.players[(3 + 7 * k) % len(self.players)].name = name
        self.employees = []
        for i in range(1, 41):
            roles = C.EMPLOYEE_ROLES[int(rng.random() * len(C.EMPLOYEE_ROLES))]
            name = f"{rng.choice(C.FIRST_NAMES)} {rng.choice(C.LAST_NAMES)}"
            self.employees.append((f"e-{i:03d}", name, roles, "bo-" + self.hx()))
        self.payers = [e for e in self.employees if "payments" in e[2]] or self.employees[:1]
        self.admins = [e for e in self.employees if "admin" in e[2]] or self.employees[:1]
        self.security = ([e for e in self.employees if "security" in e[2]] or self.employees)[0]

    def _player(self, i):
        rng, r, p = self.rng, self.rng.random, Player()
        first, last = rng.choice(C.FIRST_NAMES), rng.choice(C.LAST_NAMES)
        _, p.cur, pp, _ = _COUNTRIES[int(r() * len(_COUNTRIES))]
        p.id, p.name = f"p-{i + 1:06d}", f"{first} {last}"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "").encode("ascii", "ignore").decode()
        p.email = f"{local}{int(r() * 100)}@{C.MAIL_DOMAINS[int(r() * len(C.MAIL_DOMAINS))]}"
        p.ip = C.IP_PREFIXES[int(r() * 3)] + str(1 + int(r() * 199))
        p.phone = f"{pp} {70 + int(r() * 9)} {int(r() * 900) + 100} {int(r() * 9000) + 1000}"
        p.limit, p.ua = float(rng.choice(C.DEPOSIT_LIMITS)), C.USER_AGENTS[int(r() * len(C.USER_AGENTS))]
        p.pay = int(r() * r() * len(C.PAYMENT_PROVIDERS))
        bin_ = C.PAYMENT_PROVIDERS[p.pay][3]
        p.card = f"{bin_}******{int(r() * 9000) + 1000}" if bin_ else None
        p.bal, p.stake = float(int(r() * 200)), C.BETS[int(r() * r() * len(C.BETS))]
        p.game = int(r() * len(C.GAME_PROVIDERS))
        return p

    # dispatch ----------------------------------------------------------------------------------
    def story(self, t, x, room) -> int:  # x: the run loop's draw, >= 0.585 (below that: one API request)
        if x < 0.626:
            return self.visit(t, room)
        if x < 0.726:
            return self.bg_integration(t)
        if x < 0.818:
            return self.job(t)
        if x < 0.925:
            return self.bg_error(t)
        return self.admin_work(t)
