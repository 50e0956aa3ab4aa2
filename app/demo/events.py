"""Event constructors and id helpers for the demo generator.

`EventBuilders` is the base of the simulator's mixins (stories, background, incidents); the state
they share is declared on `SimState` and set by `generator._Sim`: `r` (rng.random), `push(ts, event)`
(onto the time-ordered heap), `n` (the id counter), `salt48`/`salt128`, `hosts`, ... Each builder
makes one fresh dict tree shaped like app/events/schema.yaml and pushes it; `@timestamp` is filled
in by the run loop when the event is yielded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["DAY", "HOUR", "MIN", "Employee", "EventBuilders", "Player", "SimState"]

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000  # epoch-ms units, used by every module of the generator
# Ids come from a counter scrambled by a per-seed salt: cheap, unique and reproducible.
_M48, _K48 = (1 << 48) - 1, 0x9E3779B97F4B
_M128, _K128 = (1 << 128) - 1, 0x9E3779B97F4A7C15F39CC0605CEDC835
_LETTER = {h: "abcdef"[int(h, 16) % 6] for h in "0123456789abcdef"}


class Player:
    __slots__ = ("bal", "card", "cur", "email", "game", "id", "ip", "limit", "name", "pay", "phone", "stake", "ua")
    bal: float
    card: str | None  # None: a payment provider without cards
    cur: str
    email: str
    game: int  # an index into catalog.GAME_PROVIDERS
    id: str
    ip: str
    limit: float
    name: str
    pay: int
    phone: str
    stake: float
    ua: str


Employee = tuple[str, str, Any, str]  # id, name, roles, back-office session id


class SimState:
    """The state the simulator's mixins share, set by `generator._Sim.__init__` (declared here, once,
    for the type checker and the reader)."""

    rng: random.Random
    r: Callable[[], float]  # rng.random
    push: Callable[[int, Any], None]  # (ts, event or task) onto the time-ordered heap
    S: int  # the window, epoch ms
    E: int
    n: int  # the id counter, scrambled by the salts
    salt48: int
    salt128: int
    hosts: dict[str, list[str]]
    versions: dict[str, str]
    players: list[Player]
    employees: list[Employee]
    payers: list[Employee]
    admins: list[Employee]
    security: Employee
    out_prov: str | None  # the provider outage incidents() planned: provider, start, end
    out_s: int
    out_e: int

    def player(self) -> Player:  # a few players are much more active than most
        r = self.r
        return self.players[int(r() * r() * len(self.players))]

    def outage(self, prov, t) -> bool:  # inside the provider outage that incidents() planned?
        return prov == self.out_prov and self.out_s <= t < self.out_e


class EventBuilders(SimState):
    # ids ---------------------------------------------------------------------------------------
    def hx(self) -> str:  # 12 hex digits: never a 13-digit run
        self.n += 1
        return f"{((self.n * _K48) ^ self.salt48) & _M48:012x}"

    def uuid(self) -> str:
        self.n += 1
        h = f"{((self.n * _K128) ^ self.salt128) & _M128:032x}"
        # v4-looking, with a letter opening groups 2, 4 and 5: no run of 13+ digits even across the dashes
        return f"{h[:8]}-{_LETTER[h[8]]}{h[9:12]}-4{h[13:16]}-a{h[17:20]}-{_LETTER[h[20]]}{h[21:]}"

    # event builders ----------------------------------------------------------------------------
    def api(
        self,
        ts,
        method,
        path,
        status,
        ms,
        actor,
        ip,
        sid=None,
        cid=None,
        ua=None,
        svc="api-gateway",
        tx=None,
        classified=True,
    ):
        """Push an API request event at `ts` (or just return it when `ts` is None)."""
        self.n = n = self.n + 1  # hx() inlined for the request id: this is the hottest builder
        ok = status < 400
        ev = {
            "@timestamp": "",
            "message": f"{method} {path} {status} {ms} ms",
            "log": {"level": "info" if ok else "warning" if status < 500 else "error"},
            "event": {
                "component": "api",
                "type": "api_request",
                "action": "http_request",
                "outcome": "success" if ok else "failure",
            },
            "service": {"name": svc},
            "http": {
                "request": {"method": method, "id": f"req-{((n * _K48) ^ self.salt48) & _M48:012x}"},
                "response": {"status_code": status},
                "duration": ms,
            },
            "url": {"path": path},
            "source": {"ip": ip},
            "actor": actor,
        }
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

    def integ(
        self,
        ts,
        prov,
        kind,
        endpoint,
        direction,
        status,
        ms,
        svc,
        actor,
        sid=None,
        cid=None,
        extra=None,
        level=None,
        msg=None,
    ):
        ok = status == "ok"
        ev = {
            "@timestamp": "",
            "message": msg or f"{prov} {endpoint} {direction}: {status} in {ms} ms",
            "log": {"level": level or ("info" if ok else "error" if status == "timeout" else "warning")},
            "event": {
                "component": "integration",
                "type": "provider_request",
                "action": "provider_request",
                "outcome": "success" if ok else "failure",
            },
            "service": {"name": svc},
            "integration": {
                "provider": prov,
                "kind": kind,
                "endpoint": endpoint,
                "direction": direction,
                "status": status,
                "duration": ms,
            },
            "actor": actor,
        }
        self._push_story(ts, ev, sid, cid, extra)

    def _push_story(self, ts, ev, sid, cid, extra) -> None:
        """Attach the session and correlation ids (in this key order) and any extra fields, then queue."""
        if sid:
            ev["session"] = {"id": sid}
        if cid:
            ev["correlation"] = {"id": cid}
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def ua(self, ts, typ, action, ok, level, svc, msg, p, ip, sid, cid, extra=None, full=False):
        ev = {
            "@timestamp": "",
            "message": msg,
            "log": {"level": level},
            "event": {
                "component": "user_activity",
                "type": typ,
                "action": action,
                "outcome": "success" if ok else "failure",
            },
            "service": {"name": svc},
            "actor": {"type": "player", "id": p.id, "name": p.name, "email": p.email, "ip": ip}
            if full
            else {"type": "player", "id": p.id, "ip": ip},
        }
        self._push_story(ts, ev, sid, cid, extra)

    def err(self, ts, svc, etype, emsg, trace, code=None, level="error", actor=None, sid=None, cid=None, classified=True):
        ev: dict[str, Any] = {"@timestamp": "", "message": f"{etype}: {emsg}", "log": {"level": level}}
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
        ev = {
            "@timestamp": "",
            "message": msg,
            "log": {"level": level},
            "event": {"component": "system", "type": typ, "action": action, "outcome": "success" if ok else "failure"},
            "service": {"name": svc, "version": version} if version else {"name": svc},
            "host": {"name": host or self.host(svc)},
        }
        if extra:
            ev.update(extra)
        self.push(ts, ev)

    def admin(self, ts, emp, typ, action, msg, target, changes=None, cid=None, extra=None, classified=True):
        ev = {
            "@timestamp": "",
            "message": msg,
            "log": {"level": "info"},
            "event": {"component": "admin_action", "type": typ, "action": action, "outcome": "success"}
            if classified
            else {"action": action, "outcome": "success"},
            "service": {"name": "backoffice"},
            "actor": {"type": "employee", "id": emp[0], "name": emp[1], "roles": list(emp[2])},
            "session": {"id": emp[3]},
        }
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
