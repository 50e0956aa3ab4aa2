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
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Iterator

from . import catalog as C

__all__ = ["generate"]

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TS: list[str] = []  # "SS.mmmZ" for every millisecond of a minute, built on first use
_HOURLY = (0.55, 0.4, 0.3, 0.25, 0.22, 0.25, 0.35, 0.5, 0.65, 0.75, 0.8, 0.85,  # by UTC hour
           0.9, 0.9, 0.9, 0.95, 1.05, 1.2, 1.35, 1.5, 1.6, 1.55, 1.3, 0.9)
_M48, _K48 = (1 << 48) - 1, 0x9E3779B97F4B
_M128, _K128 = (1 << 128) - 1, 0x9E3779B97F4A7C15F39CC0605CEDC835
_BG_API = tuple(m for m, _, w in C.BACKGROUND_API for _ in range(w))
_BG_PATH = tuple(p for _, p, w in C.BACKGROUND_API for _ in range(w))
_JOBS = tuple(j for j in C.JOBS for _ in range(j[4]))
_COUNTRIES = tuple(c for c in C.COUNTRIES for _ in range(c[3]))
_MULTS = (0.2, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 10.0, 25.0, 100.0)
_PAY_OUT = tuple(p[0] for p in C.PAYMENT_PROVIDERS[:2])
_SERVICES = tuple(C.SERVICES)
_LETTER = {h: "abcdef"[int(h, 16) % 6] for h in "0123456789abcdef"}
_IPS = tuple(f"{p}{i}" for p in C.IP_PREFIXES for i in range(1, 200))
_PINGS = tuple([(g[0], "game", "game-service") for g in C.GAME_PROVIDERS] +
               [(p[0], "payment", "payment-service") for p in C.PAYMENT_PROVIDERS] +
               [(C.KYC_PROVIDER, "kyc", "kyc-service"), (C.SMS_PROVIDER, "sms", "notification-service"),
                (C.EMAIL_PROVIDER, "email", "notification-service"), (C.SPORTS_PROVIDER, "game", "sportsbook-service")])
_ERR_ROUTES = {"wallet-service": ("GET", "/api/v1/players/me/balance"),
               "bonus-service": ("GET", "/api/v1/players/me/bonuses"),
               "player-service": ("PATCH", "/api/v1/players/me"),
               "sportsbook-service": ("POST", "/api/v1/sportsbook/bets")}


def generate(events: int, days: int = 7, seed: int = 42, end: datetime | None = None) -> Iterator[dict]:
    """Yield exactly `events` events spread over the `days` days ending at `end` (default: now,
    UTC), in non-decreasing @timestamp order. Each event is an independent dict tree."""
    if events < 0 or days <= 0:
        raise ValueError("events must be >= 0 and days > 0")
    if end is None:
        end = datetime.now(timezone.utc)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=timezone.utc)
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
    bounds = [start] + list(range((start // HOUR + 1) * HOUR, end, HOUR)) + [end]
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
            if ts >= next_min:  # times only grow: one strftime per minute
                base = ts - ts % MIN
                next_min, prefix = base + MIN, (_EPOCH + timedelta(milliseconds=base)).strftime("%Y-%m-%dT%H:%M:")
            ev["@timestamp"] = prefix + tsuf[ts - base]
            yield ev
        if remaining <= 0:
            return
        s = r()
        if s < 0.585 or remaining < 120:  # a single API request: no need to go through the heap
            ev = bg_api()
            if t >= next_min:
                base = t - t % MIN
                next_min, prefix = base + MIN, (_EPOCH + timedelta(milliseconds=base)).strftime("%Y-%m-%dT%H:%M:")
            ev["@timestamp"] = prefix + tsuf[t - base]
            yield ev
            produced += 1
        else:
            produced += story(t, s, remaining)
        stories += 1
        mean_k = produced / stories if stories > 20 else 3.0
        if produced < budget:  # advance the clock by about mean_k events' worth of the remaining time
            x = min(total, x + (total - x) / (budget - produced) * mean_k * 2.0 * r())


class _Player:
    __slots__ = ("id", "name", "email", "cur", "ip", "phone", "limit", "ua", "pay", "card", "bal", "stake", "game")


class _Sim:
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
        rng, r, p = self.rng, self.rng.random, _Player()
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

    # ids ---------------------------------------------------------------------------------------
    def hx(self) -> str:  # 12 hex digits: never a 13-digit run
        self.n += 1
        return f"{((self.n * _K48) ^ self.salt48) & _M48:012x}"

    def uuid(self) -> str:
        self.n += 1
        h = f"{((self.n * _K128) ^ self.salt128) & _M128:032x}"
        # v4-looking, with a letter opening groups 2, 4 and 5: no run of 13+ digits even across the dashes
        return f"{h[:8]}-{_LETTER[h[8]]}{h[9:12]}-4{h[13:16]}-a{h[17:20]}-{_LETTER[h[20]]}{h[21:]}"

    def player(self) -> _Player:  # a few players are much more active than most
        r = self.r
        return self.players[int(r() * r() * len(self.players))]

    def outage(self, prov, t) -> bool:
        return prov == self.out_prov and self.out_s <= t < self.out_e

    # event builders ----------------------------------------------------------------------------
    def api(self, ts, method, path, status, ms, actor, ip, sid=None, cid=None, ua=None, svc="api-gateway",
            tx=None, classified=True):
        """Push an API request event at `ts` (or just return it when `ts` is None)."""
        self.n = n = self.n + 1
        ok = status < 400
        ev = {"@timestamp": "", "message": f"{method} {path} {status} {ms} ms",
              "log": {"level": "info" if ok else "warning" if status < 500 else "error"},
              "event": {"component": "api", "type": "api_request", "action": "http_request",
                        "outcome": "success" if ok else "failure"},
              "service": {"name": svc},
              "http": {"request": {"method": method, "id": f"req-{((n * _K48) ^ self.salt48) & _M48:012x}"},
                       "response": {"status_code": status}, "duration": ms},
              "url": {"path": path}, "source": {"ip": ip}, "actor": actor}
        if not classified:
            del ev["event"]
        if ua:
            ev["user_agent"] = {"original": ua}
        if sid:
            ev["session"] = {"id": sid}
        if cid:
            ev["correlation"] = {"id": cid}
        if tx:
            ev["payment"] = {"transaction_id": tx}
        if ts is None:
            return ev
        self.push(ts, ev)

    def integ(self, ts, prov, kind, endpoint, direction, status, ms, svc, actor, sid=None, cid=None, extra=None,
              level=None, msg=None):
        ok = status == "ok"
        ev = {"@timestamp": "", "message": msg or f"{prov} {endpoint} {direction}: {status} in {ms} ms",
              "log": {"level": level or ("info" if ok else "error" if status == "timeout" else "warning")},
              "event": {"component": "integration", "type": "provider_request", "action": "provider_request",
                        "outcome": "success" if ok else "failure"},
              "service": {"name": svc},
              "integration": {"provider": prov, "kind": kind, "endpoint": endpoint, "direction": direction,
                              "status": status, "duration": ms},
              "actor": actor}
        if sid:
            ev["session"] = {"id": sid}
        if cid:
            ev["correlation"] = {"id": cid}
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def ua(self, ts, typ, action, ok, level, svc, msg, p, ip, sid, cid, extra=None, full=False):
        ev = {"@timestamp": "", "message": msg, "log": {"level": level},
              "event": {"component": "user_activity", "type": typ, "action": action,
                        "outcome": "success" if ok else "failure"},
              "service": {"name": svc},
              "actor": {"type": "player", "id": p.id, "name": p.name, "email": p.email, "ip": ip} if full
              else {"type": "player", "id": p.id, "ip": ip}}
        if sid:
            ev["session"] = {"id": sid}
        if cid:
            ev["correlation"] = {"id": cid}
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def err(self, ts, svc, etype, emsg, trace, code=None, level="error", actor=None, sid=None, cid=None,
            classified=True):
        ev = {"@timestamp": "", "message": f"{etype}: {emsg}", "log": {"level": level}}
        if classified:
            ev["event"] = {"component": "error", "type": "system_error", "action": "exception", "outcome": "failure"}
        ev["service"] = {"name": svc}
        ev["host"] = {"name": self.host(svc)}
        ev["error"] = {"type": etype, "message": emsg, "stack_trace": trace}
        if code:
            ev["error"]["code"] = code
        if actor:
            ev["actor"] = actor
        if sid:
            ev["session"] = {"id": sid}
        if cid:
            ev["correlation"] = {"id": cid}
        self.push(ts, ev)

    def sys(self, ts, typ, action, level, svc, msg, ok=True, extra=None, host=None, version=None):
        ev = {"@timestamp": "", "message": msg, "log": {"level": level},
              "event": {"component": "system", "type": typ, "action": action,
                        "outcome": "success" if ok else "failure"},
              "service": {"name": svc, "version": version} if version else {"name": svc},
              "host": {"name": host or self.host(svc)}}
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def admin(self, ts, emp, typ, action, msg, target, changes=None, cid=None, extra=None, classified=True):
        ev = {"@timestamp": "", "message": msg, "log": {"level": "info"},
              "event": {"component": "admin_action", "type": typ, "action": action, "outcome": "success"}
              if classified else {"action": action, "outcome": "success"},
              "service": {"name": "backoffice"},
              "actor": {"type": "employee", "id": emp[0], "name": emp[1], "roles": list(emp[2])},
              "session": {"id": emp[3]}}
        if target:
            ev["target"] = target
        if changes:
            ev["changes"] = changes
        if cid:
            ev["correlation"] = {"id": cid}
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def host(self, svc):
        hosts = self.hosts[svc]
        return hosts[int(self.r() * len(hosts))]

    def ms(self, lo, spread):  # latency with a long tail, 0.1 ms resolution
        r = self.r()
        return int((lo + spread * r * r * r) * 10) / 10

    # dispatch ----------------------------------------------------------------------------------
    def story(self, t, x, room) -> int:
        if x < 0.626:
            return self.visit(t, room)
        if x < 0.726:
            return self.bg_integration(t)
        if x < 0.818:
            return self.job(t)
        if x < 0.925:
            return self.bg_error(t)
        return self.admin_work(t)

    # player stories ----------------------------------------------------------------------------
    def visit(self, t, room) -> int:
        r, p = self.r, self.player()
        sid = "sess-" + self.hx()
        ip = p.ip if r() < 0.85 else C.IP_PREFIXES[int(r() * 3)] + str(1 + int(r() * 199))
        n = 0
        if r() < 0.06:  # mistyped password first
            n += self.login(t, p, None, ip, False)
            t += 3000 + int(r() * 25000)
        n += self.login(t, p, sid, ip, True)
        for _ in range(1 + int(r() * r() * 7)):
            if n + 90 > room:
                break
            t += 3000 + int(r() * 60000)
            x = r()
            if x < 0.14 or (p.bal < 2 and x < 0.85):
                k, t = self.deposit(t, p, sid, ip)
            elif x < 0.56:
                k, t = self.game(t, p, sid, ip, room - n - 10)
            elif x < 0.68 and p.bal >= 1:
                k, t = self.sports(t, p, sid, ip)
            elif x < 0.72 and p.bal > 20:
                k, t = self.withdraw(t, p, sid, ip)
            elif x < 0.75:
                k, t = self.profile(t, p, sid, ip)
            else:
                k, t = self.browse(t, p, sid, ip)
            n += k
        t += 2000 + int(r() * 30000)
        if r() < 0.8:
            self.api(t, "POST", "/api/v1/auth/logout", 204, self.ms(3, 40), {"type": "player", "id": p.id}, ip, sid,
                     None, p.ua)
            self.ua(t + 8, "login", "logout", True, "info", "auth-service", f"Player {p.id} logged out",
                    p, ip, sid, None)
            return n + 2
        self.ua(t + 30 * MIN, "login", "logout", True, "info", "auth-service",
                f"Session of {p.id} expired after 30 min idle", p, ip, sid, None,
                {"labels": {"reason": "idle_timeout"}})
        return n + 1

    def login(self, t, p, sid, ip, ok, ua=None) -> int:
        cid, ms, ua = self.uuid(), self.ms(40, 300), ua or p.ua
        self.api(t, "POST", "/api/v1/auth/login", 200 if ok else 401, ms, {"type": "player", "id": p.id}, ip, sid,
                 cid, ua)
        msg = f"Player {p.id} logged in" if ok else f"Login failed for {p.email}: invalid password"
        self.ua(t + int(ms), "login", "login" if ok else "login_failed", ok, "info" if ok else "warning",
                "auth-service", msg, p, ip, sid, cid, {"user_agent": {"original": ua}}, full=True)
        if ok and self.r() < 0.05:  # new device: one-time code by SMS
            self.integ(t + int(ms) + 5, C.SMS_PROVIDER, "sms", "POST /v1/messages", "outbound", "ok", self.ms(80, 400),
                       "auth-service", {"type": "player", "id": p.id}, sid, cid)
            return 3
        return 2

    def deposit(self, t, p, sid, ip, pay_idx=None):
        r = self.r
        prov, method, refp, _ = C.PAYMENT_PROVIDERS[p.pay if pay_idx is None else pay_idx]
        amt = min(float(C.DEPOSIT_AMOUNTS[int(r() * len(C.DEPOSIT_AMOUNTS))]), p.limit)
        cid, tx, down, x = self.uuid(), "tx-" + self.hx(), self.outage(prov, t), r()
        if down:
            status, ist, ims, code = "failed", "timeout", 30000.0, 504
        elif x < 0.07:
            status, ist, ims, code = "declined", "rejected", self.ms(120, 900), 402
        else:
            status, ist, ims, code = "pending" if method in ("bank_transfer", "crypto") else "completed", "ok", \
                self.ms(120, 1500), 201
        self.api(t, "POST", "/api/v1/payments/deposit", code, int(ims * 10 + self.ms(15, 60) * 10) / 10,
                 {"type": "player", "id": p.id}, ip, sid, cid, p.ua, tx=tx)
        ref = None if down else refp + self.hx()
        self.integ(t + 12, prov, "payment", "POST /v2/charges", "outbound", ist, ims, "payment-service",
                   {"type": "player", "id": p.id}, sid, cid,
                   {"payment": {"transaction_id": tx, "provider_reference": ref} if ref else {"transaction_id": tx}})
        t2, n = t + 20 + int(ims), 3
        if down:
            self.err(t2, "payment-service", "ProviderTimeoutError",
                     f"{prov} did not answer POST /v2/charges within 30 s",
                     C.TIMEOUT_TRACE.format(svc="payment", provider=prov), "PROVIDER_TIMEOUT",
                     actor={"type": "player", "id": p.id}, sid=sid, cid=cid)
            n += 1

        def pay(st):
            d = {"transaction_id": tx, "direction": "deposit", "amount": amt, "currency": p.cur, "method": method,
                 "provider": prov, "status": st}
            if ref:
                d["provider_reference"] = ref
            if p.card:
                d["card"] = {"masked": p.card}
            return d
        via = f"card {p.card}" if p.card else method.replace("_", " ")
        extra = {"payment": pay(status)}
        if status == "declined":
            extra["labels"] = {"decline_reason": C.DECLINE_REASONS[int(r() * len(C.DECLINE_REASONS))]}
        ok = status in ("completed", "pending")
        self.ua(t2 + 5, "payment", "deposit", ok, "info" if ok else "warning", "payment-service",
                f"Deposit {tx} of {amt:.2f} {p.cur} via {prov} ({via}): {status}", p, ip, sid, cid, extra)
        if status == "completed":
            p.bal += amt
        elif status == "pending":
            t3 = t2 + MIN + int(r() * 14 * MIN)
            if t3 < self.E:
                self.integ(t3, prov, "payment", "POST /webhooks/payment-status", "inbound", "ok", self.ms(5, 40),
                           "payment-service", {"type": "integration", "id": prov}, None, cid,
                           {"payment": {"transaction_id": tx, "provider_reference": ref},
                            "target": {"type": "player", "id": p.id}})
                self.ua(t3 + 30, "payment", "deposit", True, "info", "payment-service",
                        f"Deposit {tx} of {amt:.2f} {p.cur} via {prov}: completed", p, ip, sid, cid,
                        {"payment": pay("completed")})
                p.bal += amt
                n += 2
        return n, t2 + 5

    def game(self, t, p, sid, ip, room, prov_idx=None):
        r = self.r
        if prov_idx is None:
            prov_idx = p.game if r() < 0.7 else int(r() * len(C.GAME_PROVIDERS))
        prov, pre, live, games = C.GAME_PROVIDERS[prov_idx]
        gid, gname = games[int(r() * len(games))]
        cid, down = self.uuid(), self.outage(prov, t)
        ims = 30000.0 if down else self.ms(60, 600)
        self.api(t, "POST", f"/api/v1/games/{gid}/launch", 504 if down else 200, int(ims * 10 + 150) / 10,
                 {"type": "player", "id": p.id}, ip, sid, cid, p.ua)
        self.integ(t + 8, prov, "game", "POST /session/create", "outbound", "timeout" if down else "ok", ims,
                   "game-service", {"type": "player", "id": p.id}, sid, cid, {"game": {"provider": prov, "id": gid}})
        t += 10 + int(ims)
        if down:
            self.err(t, "game-service", "ProviderTimeoutError",
                     f"{prov} did not answer POST /session/create within 30 s",
                     C.TIMEOUT_TRACE.format(svc="game", provider=prov), "PROVIDER_TIMEOUT",
                     actor={"type": "player", "id": p.id}, sid=sid, cid=cid)
            return 3, t
        self.ua(t, "game_session", "game_session_open", True, "info", "game-service",
                f"{p.id} opened {gname} ({prov})", p, ip, sid, cid,
                {"game": {"provider": prov, "id": gid, "name": gname, "currency": p.cur}})
        # Plan the rounds now (times, wins, balance, event count); render them lazily, round by round, so
        # a 20-minute live session does not sit in the heap as hundreds of long-lived dicts.
        gap, spread = (20000, 25000) if live else (2500, 6000)
        bet, n, plan, err_t = p.stake, 3, [], 0
        for _ in range(min(3 + int(r() * r() * 30), (room - 6) // 4)):
            t += gap + int(r() * spread)
            if prov == self.out_prov and self.out_s <= t < self.out_e:
                err_t, n = t, n + 1
                break
            if p.bal < bet:
                break
            win = 0.0 if r() < 0.7 else int(bet * _MULTS[int(r() * 13)] * 100) / 100
            poll = r() < 0.3  # the client polls the balance now and then
            p.bal += win - bet
            plan.append((t, win, poll))
            n += 2 + poll + (win > 0)
        t += 1500 + int(r() * 5000)
        task = self._rounds(prov, pre, gid, gname, p, ip, sid, cid, bet, tuple(plan), err_t, t)
        self.push(next(task), task)
        return n + 1, t

    def _rounds(self, prov, pre, gid, gname, p, ip, sid, cid, bet, plan, err_t, t_close):
        """A task: yields the time it wants to run next, pushes the events due then."""
        push, r, hx, cur, pid = self.push, self.r, self.hx, p.cur, p.id
        bets = wins = 0.0
        for t, win, poll in plan:
            yield t
            rid, ms = f"{pre}-{hx()}", int(r() * 400 + 40) / 10
            bets += bet
            wins += win
            push(t, {"@timestamp": "", "message": f"{prov} POST /wallet/debit inbound: ok in {ms} ms",
                     "log": {"level": "info"}, "event": {"component": "integration", "type": "provider_request",
                                                         "action": "provider_request", "outcome": "success"},
                     "service": {"name": "wallet-service"},
                     "integration": {"provider": prov, "kind": "game", "endpoint": "POST /wallet/debit",
                                     "direction": "inbound", "status": "ok", "duration": ms},
                     "actor": {"type": "integration", "id": prov}, "session": {"id": sid}, "correlation": {"id": cid},
                     "target": {"type": "player", "id": pid}, "game": {"round_id": rid, "bet": bet, "currency": cur}})
            push(t + 25, {"@timestamp": "", "message": f"Round {rid} on {gname}: bet {bet:.2f} {cur}, win {win:.2f}",
                          "log": {"level": "info"}, "event": {"component": "user_activity", "type": "game_session",
                                                              "action": "game_round", "outcome": "success"},
                          "service": {"name": "game-service"}, "actor": {"type": "player", "id": pid, "ip": ip},
                          "session": {"id": sid}, "correlation": {"id": cid},
                          "game": {"provider": prov, "id": gid, "name": gname, "round_id": rid, "bet": bet, "win": win,
                                   "currency": cur}})
            if win:
                self.integ(t + 40, prov, "game", "POST /wallet/credit", "inbound", "ok", int(r() * 400 + 40) / 10,
                           "wallet-service", {"type": "integration", "id": prov}, sid, cid,
                           {"target": {"type": "player", "id": pid},
                            "game": {"round_id": rid, "win": win, "currency": cur}})
            if poll:
                self.api(t + 300, "GET", "/api/v1/players/me/balance", 200, self.ms(3, 40),
                         {"type": "player", "id": pid}, ip, sid, None, p.ua)
        if err_t:
            yield err_t
            self.err(err_t, "game-service", "ProviderTimeoutError", f"{prov} stopped answering during a round",
                     C.TIMEOUT_TRACE.format(svc="game", provider=prov), "PROVIDER_TIMEOUT",
                     actor={"type": "player", "id": pid}, sid=sid, cid=cid)
        yield t_close
        self.ua(t_close, "game_session", "game_session_close", True, "info", "game-service",
                f"{pid} closed {gname} after {len(plan)} rounds: bet {bets:.2f} {cur}, won {wins:.2f}", p, ip, sid,
                cid, {"game": {"provider": prov, "id": gid, "name": gname, "currency": cur}})

    def sports(self, t, p, sid, ip):
        r = self.r
        eid, ename = C.SPORTS_EVENTS[int(r() * len(C.SPORTS_EVENTS))]
        market, prov, cur = C.SPORTS_MARKETS[int(r() * len(C.SPORTS_MARKETS))], C.SPORTS_PROVIDER, p.cur
        stake = float(min(int(p.bal), C.DEPOSIT_AMOUNTS[int(r() * 6)]))
        odds, cid, bid, ms = 1.2 + int(r() * r() * 60) / 10, self.uuid(), "sb-" + self.hx(), self.ms(30, 250)
        game = {"provider": prov, "id": eid, "name": ename, "round_id": bid, "currency": cur}
        self.api(t, "POST", "/api/v1/sportsbook/bets", 201, int(ms * 10 + 200) / 10, {"type": "player", "id": p.id},
                 ip, sid, cid, p.ua)
        self.integ(t + 5, prov, "game", "POST /v1/price-check", "outbound", "ok", ms, "sportsbook-service",
                   {"type": "player", "id": p.id}, sid, cid, {"game": {"id": eid, "round_id": bid}})
        self.ua(t + 10 + int(ms), "game_session", "bet_placed", True, "info", "sportsbook-service",
                f'Bet {bid}: {stake:.2f} {cur} on "{market}" in {ename} at {odds:.2f}', p, ip, sid, cid,
                {"game": dict(game, bet=stake)})
        p.bal -= stake
        t3 = t + 20 * MIN + int(r() * 160 * MIN)
        if t3 >= self.E:
            return 3, t + 10 + int(ms)
        win = int(stake * odds * 100) / 100 if r() < 0.95 / odds else 0.0
        p.bal += win
        self.integ(t3, prov, "game", "POST /v1/settlements", "inbound", "ok", self.ms(5, 60), "sportsbook-service",
                   {"type": "integration", "id": prov}, None, cid,
                   {"target": {"type": "player", "id": p.id}, "game": {"id": eid, "round_id": bid}})
        self.ua(t3 + 40, "game_session", "bet_settled", True, "info", "sportsbook-service",
                f"Bet {bid} settled: " + (f"won {win:.2f} {cur}" if win else "lost"), p, ip, sid, cid,
                {"game": dict(game, bet=stake, win=win)})
        return 5, t + 10 + int(ms)

    def withdraw(self, t, p, sid, ip):
        r = self.r
        prov, method, _, _ = C.PAYMENT_PROVIDERS[p.pay]
        amt, cid, tx = float(int(p.bal * (0.3 + 0.7 * r()))), self.uuid(), "tx-" + self.hx()
        p.bal -= amt

        def pay(st):
            return {"payment": {"transaction_id": tx, "direction": "withdrawal", "amount": amt, "currency": p.cur,
                                "method": method, "provider": prov, "status": st}}
        self.api(t, "POST", "/api/v1/payments/withdraw", 202, self.ms(30, 200), {"type": "player", "id": p.id}, ip, sid,
                 cid, p.ua, tx=tx)
        self.ua(t + 40, "payment", "withdrawal_requested", True, "info", "payment-service",
                f"Withdrawal {tx} of {amt:.2f} {p.cur} to {prov} requested", p, ip, sid, cid, pay("pending"))
        n = 2
        if r() < 0.3:
            self.integ(t + 60, C.KYC_PROVIDER, "kyc", "POST /v1/checks", "outbound", "ok", self.ms(200, 1500),
                       "kyc-service", {"type": "player", "id": p.id}, sid, cid, {"payment": {"transaction_id": tx}})
            n += 1
        t2 = t + 10 * MIN + int(r() * 230 * MIN)
        if t2 + 5000 >= self.E:
            return n, t + 40
        emp, ok = self.payers[int(r() * len(self.payers))], r() > 0.08
        new = "approved" if ok else "rejected"
        self.admin(t2, emp, "payment", "withdrawal_" + new, f"{emp[0]} {new} withdrawal {tx} ({amt:.2f} {p.cur})",
                   {"type": "withdrawal", "id": tx}, [{"field": "status", "old": "pending", "new": new}], cid, pay(new))
        if not ok:
            p.bal += amt
            self.ua(t2 + 500, "payment", "withdrawal", False, "warning", "payment-service",
                    f"Withdrawal {tx} rejected: documents required", p, ip, sid, cid, pay("rejected"))
            self.integ(t2 + 900, C.EMAIL_PROVIDER, "email", "POST /v3/send", "outbound", "ok", self.ms(50, 300),
                       "notification-service", {"type": "service", "id": "notification-service"}, None, cid,
                       {"target": {"type": "player", "id": p.id}})
            return n + 3, t + 40
        down, ims = self.outage(prov, t2 + 800), self.ms(150, 1200)
        ims = 30000.0 if down else ims
        self.integ(t2 + 800, prov, "payment", "POST /v2/payouts", "outbound", "timeout" if down else "ok", ims,
                   "payment-service", {"type": "player", "id": p.id}, sid, cid, {"payment": {"transaction_id": tx}})
        if down:
            p.bal += amt
        self.ua(t2 + 1000 + int(ims), "payment", "withdrawal", not down, "error" if down else "info", "payment-service",
                f"Withdrawal {tx} of {amt:.2f} {p.cur} {'failed: provider timeout' if down else 'paid out'}", p, ip,
                sid, cid, pay("failed" if down else "completed"))
        return n + 3, t + 40

    def profile(self, t, p, sid, ip):
        r, x, notify = self.r, self.r(), None
        if x < 0.3:
            field, old = "email", p.email
            p.email = new = f"{p.id.replace('-', '')}.{self.hx()[:5]}@{C.MAIL_DOMAINS[int(r() * 5)]}"
            notify = (C.EMAIL_PROVIDER, "email", "POST /v3/send", "notification-service")
        elif x < 0.55:
            field, old = "phone", p.phone
            prefix = p.phone[:p.phone.index(" ")]
            p.phone = new = f"{prefix} 7{int(r() * 9)} {int(r() * 900) + 100} {int(r() * 9000) + 1000}"
            notify = (C.SMS_PROVIDER, "sms", "POST /v1/messages", "notification-service")
        elif x < 0.9:
            field, old, new = "deposit_limit", p.limit, float(C.DEPOSIT_LIMITS[int(r() * len(C.DEPOSIT_LIMITS))])
            p.limit = new = new if new != old else old * 2
        else:
            field, old, new = "marketing_opt_in", True, False
        ms = self.ms(20, 150)
        self.api(t, "PUT" if field == "deposit_limit" else "PATCH",
                 "/api/v1/players/me/limits" if field == "deposit_limit" else "/api/v1/players/me", 200, ms,
                 {"type": "player", "id": p.id}, ip, sid, None, p.ua)
        self.ua(t + int(ms), "profile_change", field + "_changed", True, "info", "player-service",
                f"Player {p.id} changed {field.replace('_', ' ')}", p, ip, sid, None,
                {"changes": [{"field": field, "old": old, "new": new}]}, full=True)
        if notify:
            prov, kind, endpoint, svc = notify
            self.integ(t + int(ms) + 200, prov, kind, endpoint, "outbound", "ok", self.ms(60, 400), svc,
                       {"type": "service", "id": svc}, None, None, {"target": {"type": "player", "id": p.id}})
            return 3, t + int(ms)
        return 2, t + int(ms)

    def browse(self, t, p, sid, ip):
        r, n = self.r, 0
        for _ in range(1 + int(r() * 4)):
            x = r()
            path = C.PLAYER_GETS[int(r() * len(C.PLAYER_GETS))]
            if x < 0.99:
                self.api(t, "GET", path, 200 if x < 0.92 else 304, self.ms(5, 200), {"type": "player", "id": p.id}, ip,
                         sid, None, p.ua)
                n += 1
            else:  # a 500 with the error behind it
                svc, etype, emsg, code, trace = C.ERRORS[0]
                cid = self.uuid()
                self.api(t, "GET", path, 500, self.ms(20, 900), {"type": "player", "id": p.id}, ip, sid, cid, p.ua)
                self.err(t + 2, svc, etype, emsg, trace, code, actor={"type": "player", "id": p.id}, sid=sid, cid=cid)
                n += 2
            t += 1500 + int(r() * 20000)
        return n, t

    # background stories --------------------------------------------------------------------------
    def bg_api(self) -> dict:  # anonymous traffic and load-balancer health checks; returned, not pushed
        r = self.r
        k = int(r() * len(_BG_API))
        method, path, x, y = _BG_API[k], _BG_PATH[k], r(), r()
        if path == "/healthz":
            return self.api(None, "GET", path, 200, int(4 + 30 * y * y * y) / 10,
                            {"type": "service", "id": "load-balancer"}, "192.0.2.250", classified=x < 0.75)
        status = (200 if x < 0.93 else 304 if x < 0.955 else 404 if x < 0.975 else 429 if x < 0.99
                  else 500 if x < 0.996 else 503)
        return self.api(None, method, path, 201 if method == "POST" and status == 200 else status,
                        int(40 + 1800 * y * y * y) / 10, {"type": "anonymous"}, _IPS[int(r() * len(_IPS))],
                        ua=C.USER_AGENTS[int(r() * len(C.USER_AGENTS))], classified=r() < 0.68)

    def bg_integration(self, t) -> int:
        r, x = self.r, self.r()
        if x < 0.5:  # health pings to every kind of provider
            prov, kind, svc = _PINGS[int(r() * len(_PINGS))]
            down = self.outage(prov, t)
            self.integ(t, prov, kind, "GET /health", "outbound", "timeout" if down else "ok",
                       30000.0 if down else self.ms(20, 200), svc, {"type": "service", "id": "integration-monitor"},
                       level="error" if down else "debug")
        elif x < 0.8:
            self.integ(t, C.SPORTS_PROVIDER, "game", "POST /v1/odds-updates", "inbound", "ok", self.ms(2, 30),
                       "sportsbook-service", {"type": "integration", "id": C.SPORTS_PROVIDER}, level="debug")
        else:
            p = self.player()
            self.integ(t, C.KYC_PROVIDER, "kyc", "POST /webhooks/verification", "inbound",
                       "ok" if r() < 0.97 else "rejected", self.ms(5, 50), "kyc-service",
                       {"type": "integration", "id": C.KYC_PROVIDER}, None, None,
                       {"target": {"type": "player", "id": p.id}})
        return 1

    def job(self, t) -> int:
        r = self.r
        if r() < 0.06:
            svc = _SERVICES[int(r() * len(_SERVICES))]
            self.sys(t, "service_lifecycle", "config_reload", "info", svc,
                     f"{svc} reloaded configuration (feature flags rev {int(r() * 900) + 100})")
            return 1
        name, svc, secs, lvl, _ = _JOBS[int(r() * len(_JOBS))]
        dur, run = int(secs * 1000 * (0.5 + r())), "run-" + self.hx()
        self.sys(t, "job", "job_started", lvl, svc, f"Job {name} started", extra={"labels": {"job": name, "run": run}})
        if r() < 0.03:
            self.sys(t + dur, "job", "job_failed", "error", svc, f"Job {name} failed after {dur / 1000:.1f} s", False,
                     {"labels": {"job": name, "run": run},
                      "error": {"type": "TimeoutError", "message": "lock wait timeout exceeded"}})
        else:
            self.sys(t + dur, "job", "job_completed", lvl, svc,
                     f"Job {name} completed in {dur / 1000:.1f} s ({int(r() * 5000)} items)",
                     extra={"labels": {"job": name, "run": run}})
        return 2

    def bg_error(self, t) -> int:
        r = self.r
        svc, etype, emsg, code, trace = C.ERRORS[int(r() * len(C.ERRORS))]
        route = _ERR_ROUTES.get(svc)
        if route and r() < 0.5:  # a player's request failed
            p, cid = self.player(), self.uuid()
            self.api(t, route[0], route[1], 500, self.ms(20, 900), {"type": "player", "id": p.id}, p.ip, None, cid,
                     p.ua)
            self.err(t + 3, svc, etype, emsg, trace, code, actor={"type": "player", "id": p.id}, cid=cid)
            return 2
        self.err(t, svc, etype, emsg, trace, code, "critical" if r() < 0.05 else "error", classified=r() < 0.4)
        return 1

    def admin_work(self, t) -> int:
        r = self.r
        emp, p, x, n = self.employees[int(r() * len(self.employees))], self.player(), r(), 1
        eid, target, cls = emp[0], {"type": "player", "id": p.id, "name": p.name}, r() < 0.65
        if r() < 0.5:  # the back-office request behind the action
            self.api(t, "GET", f"/backoffice/api/players/{p.id}", 200, self.ms(8, 120), {"type": "employee", "id": eid},
                     "198.51.100.10", emp[3], svc="backoffice")
            t, n = t + 150, 2
        if x < 0.35:
            self.admin(t, emp, "access", "player_viewed", f"{eid} viewed player {p.id}", target, classified=cls)
        elif x < 0.47:
            self.admin(t, emp, "access", "player_search", f'{eid} searched players for "{p.email}"', None,
                       extra={"labels": {"query": p.email}}, classified=cls)
        elif x < 0.58:
            old, p.limit = p.limit, float(C.DEPOSIT_LIMITS[int(r() * len(C.DEPOSIT_LIMITS))])
            self.admin(t, emp, "profile_change", "limit_changed", f"{eid} set deposit limit of {p.id} to {p.limit:.0f}",
                       target, [{"field": "deposit_limit", "old": old, "new": p.limit}], classified=cls)
        elif x < 0.68:
            delta, old = float(C.DEPOSIT_AMOUNTS[int(r() * 5)]), int(p.bal * 100) / 100
            p.bal = int(old * 100 + delta * 100 + 0.5) / 100
            self.admin(t, emp, "payment", "balance_adjusted",
                       f"{eid} credited {delta:.2f} {p.cur} to {p.id} (goodwill)", target,
                       [{"field": "balance", "old": old, "new": p.bal}], classified=cls,
                       extra={"payment": {"transaction_id": "tx-" + self.hx(), "direction": "adjustment",
                                          "amount": delta, "currency": p.cur, "status": "completed"}})
        elif x < 0.78:
            self.admin(t, emp, "profile_change", "kyc_approved", f"{eid} approved KYC documents of {p.id}", target,
                       [{"field": "kyc_status", "old": "pending", "new": "verified"}], classified=cls)
        elif x < 0.84:
            self.admin(t, emp, "access", "export",
                       f"{eid} exported {int(r() * 3000) + 10} transactions of {p.id} to CSV", target, classified=cls)
        elif x < 0.92:
            self.admin(t, emp, "login", "login", f"Employee {eid} signed in to the back office", None, classified=cls,
                       extra={"source": {"ip": "198.51.100.10"}})
        elif x < 0.97:
            self.admin(t, emp, "other", "note_added",
                       f'{eid} added a note to {p.id}: "Called about \'missing\' deposit"', target, classified=cls)
        else:
            other, boss = self.employees[int(r() * len(self.employees))], self.admins[int(r() * len(self.admins))]
            self.admin(t, boss, "permission_change", "role_granted", f"{boss[0]} granted 'senior_support' to {other[0]}",
                       {"type": "user", "id": other[0], "name": other[1]},
                       [{"field": "roles", "old": list(other[2]), "new": list(other[2]) + ["senior_support"]}])
        return n

    def deploy(self, t, svc, old, new, action="deploy") -> None:
        verb = "Rolling back" if action == "rollback" else "Deploying"
        self.sys(t, "service_lifecycle", action, "warning" if action == "rollback" else "info", svc,
                 f"{verb} {svc} {old} -> {new}", version=old, extra={
                     "actor": {"type": "service", "id": "deploy-bot"},
                     "changes": [{"field": "version", "old": old, "new": new}]})
        for i, host in enumerate(self.hosts[svc]):
            self.sys(t + 15000 * i + 2000, "service_lifecycle", "stop", "info", svc, f"{host} stopping (SIGTERM)",
                     host=host, version=old)
            self.sys(t + 15000 * i + 9000, "service_lifecycle", "start", "info", svc, f"{svc} {new} started on {host}",
                     host=host, version=new)

    def routine_deploys(self, n) -> None:  # working hours, a few a day; versions only move forward
        r, times = self.r, []
        for _ in range(n):
            t = self.S + int(r() * (self.E - self.S))
            t = t // DAY * DAY + 8 * HOUR + int(r() * 10 * HOUR)
            if self.S <= t < self.E - HOUR and (t // DAY + 3) % 7 < 5:  # not at weekends
                times.append(t)
        for t in sorted(times):
            svc = _SERVICES[int(r() * len(_SERVICES))]
            if svc != C.SPIKE_ERROR[0]:
                old = self.versions[svc]
                a, b, c = old.split(".")
                self.versions[svc] = new = f"{a}.{b}.{int(c) + 1}"
                self.deploy(t, svc, old, new)

    # incidents, placed relative to the end --------------------------------------------------------
    def incidents(self, scale: float) -> None:
        r, E, span = self.r, self.E, self.E - self.S
        day = min(span, DAY)
        # 1. a provider outage in the last day
        provs = [g[0] for g in C.GAME_PROVIDERS] + list(_PAY_OUT)
        prov = provs[int(r() * len(provs))]
        kind, svc = ("payment", "payment-service") if prov in _PAY_OUT else ("game", "game-service")
        s, dur = E - int(day * 0.45) + int(r() * day / 48), (30 + int(r() * 30)) * MIN
        self.out_prov, self.out_s, self.out_e = prov, s, s + dur
        mon = {"type": "service", "id": "integration-monitor"}
        self.integ(s + 90_000, prov, kind, "circuit-breaker", "outbound", "circuit_open", 0.0, svc,
                   {"type": "service", "id": svc}, level="critical",
                   msg=f"Circuit breaker OPEN for {prov}: 20 consecutive timeouts")
        self.err(s + 120_000, svc, "ProviderUnavailableError", f"{prov} unavailable: 100% of calls timing out",
                 C.TIMEOUT_TRACE.format(svc=svc.split("-")[0], provider=prov), "PROVIDER_DOWN", "critical")
        for k in range(0, dur, 2 * MIN if scale > 0.5 else 6 * MIN):
            self.integ(s + k + 5000, prov, kind, "GET /health", "outbound", "timeout", 30000.0, svc, dict(mon))
        for _ in range(max(4, int(30 * scale))):
            p, tt, sid = self.player(), s + int(r() * dur), "sess-" + self.hx()
            if kind == "payment":
                self.deposit(tt, p, sid, p.ip, _PAY_OUT.index(prov))
            else:
                self.game(tt, p, sid, p.ip, 60, provs.index(prov))
        self.integ(s + dur + 30_000, prov, kind, "GET /health", "outbound", "ok", 85.2, svc, mon, level="notice",
                   msg=f"{prov} healthy again after {dur // MIN} min; circuit breaker CLOSED")
        # 2. a bad deploy, an error spike in that service, a rollback
        svc, etype, emsg, trace = C.SPIKE_ERROR
        t0, old = E - int(min(span, 2 * DAY) * 0.62), self.versions[svc]
        office = t0 - t0 % DAY + 9 * HOUR + int(r() * 6 * HOUR)  # deploys happen in office hours
        t0 = office if self.S + HOUR < office < E - 2 * HOUR else t0
        a, b, _ = old.split(".")
        self.deploy(t0, svc, old, f"{a}.{int(b) + 1}.0")
        burst = (12 + int(r() * 10)) * MIN
        for _ in range(max(8, int(60 * scale))):
            tt, p, cid = t0 + MIN + int(r() * burst), self.player(), self.uuid()
            self.err(tt, svc, etype, emsg, trace, "DB_SCHEMA", "critical" if r() < 0.1 else "error",
                     actor={"type": "player", "id": p.id}, cid=cid)
            if r() < 0.5:
                self.api(tt - 4, "GET", "/api/v1/players/me/balance", 500, self.ms(5, 50),
                         {"type": "player", "id": p.id}, p.ip, None, cid, p.ua)
        self.deploy(t0 + MIN + burst + 2 * MIN, svc, f"{a}.{int(b) + 1}.0", old, "rollback")
        # 3. brute-force login bursts from one IP
        self.brute_force(E - int(day * 0.22) + int(r() * day / 48), scale, True)
        if scale >= 0.5:
            self.brute_force(E - int(span * 0.8), scale, False)

    def brute_force(self, t, scale, takeover) -> None:
        r = self.r
        ip, n = f"203.0.113.{200 + int(r() * 55)}", max(4, int(36 * scale))
        victims = [self.players[int(r() * len(self.players))] for _ in range(6 + int(r() * 7))]
        gap = (3 + int(r() * 4)) * MIN // n
        for k in range(n):
            p, ms, cid = victims[k % len(victims)], self.ms(40, 200), self.uuid()
            tt = t + k * gap + int(r() * gap)
            self.api(tt, "POST", "/api/v1/auth/login", 401, ms, {"type": "anonymous"}, ip, None, cid, C.ATTACKER_UA)
            self.ua(tt + int(ms), "login", "login_failed", False, "warning", "auth-service",
                    f"Login failed for {p.email}: invalid password", p, ip, None, cid,
                    {"user_agent": {"original": C.ATTACKER_UA}}, full=True)
        t += n * gap + 20_000
        if not takeover:
            for k in range(3):
                self.api(t + 5000 * k, "POST", "/api/v1/auth/login", 429, 0.8, {"type": "anonymous"}, ip, None, None,
                         C.ATTACKER_UA)
            return
        p, sid, sec = victims[-1], "sess-" + self.hx(), self.security
        self.login(t, p, sid, ip, True, C.ATTACKER_UA)  # the account taken over
        self.api(t + 40_000, "GET", "/api/v1/players/me/transactions", 200, 35.0, {"type": "player", "id": p.id}, ip,
                 sid, None, C.ATTACKER_UA)
        t += 25 * MIN
        self.admin(t, sec, "profile_change", "account_locked",
                   f"{sec[0]} locked account {p.id}: suspected account takeover from {ip}",
                   {"type": "player", "id": p.id, "name": p.name},
                   [{"field": "status", "old": "active", "new": "locked"}])
        self.ua(t + 500, "login", "logout", True, "info", "auth-service",
                f"Session of {p.id} terminated: account locked", p, ip, sid, None,
                {"labels": {"reason": "account_locked"}})
