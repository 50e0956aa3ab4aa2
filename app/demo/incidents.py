"""Deploys and incidents: routine deploys in office hours, and the incidents placed relative to the
end of the window (a provider outage, an error spike after a bad deploy with its rollback, and
brute-force login bursts).

`DeploysAndIncidents` is mixed into `generator._Sim` (see there for the shared state). These run
once, before the main loop, and push everything onto the heap up front; the outage reuses the
player stories (deposits, game sessions: stories_payments.py, stories_games.py) so players hit the
failing provider.
"""

from __future__ import annotations

from . import catalog as C
from .events import DAY, HOUR, MIN
from .stories import PlayerStories

__all__ = ["DeploysAndIncidents"]

_PAY_OUT = tuple(p[0] for p in C.PAYMENT_PROVIDERS[:2])  # payment providers that can have the outage
_SERVICES = tuple(C.SERVICES)


class DeploysAndIncidents(PlayerStories):
    def deploy(self, t, svc, old, new, action="deploy") -> None:
        verb = "Rolling back" if action == "rollback" else "Deploying"
        self.sys(
            t,
            "service_lifecycle",
            action,
            "warning" if action == "rollback" else "info",
            svc,
            f"{verb} {svc} {old} -> {new}",
            version=old,
            extra={
                "actor": {"type": "service", "id": "deploy-bot"},
                "changes": [{"field": "version", "old": old, "new": new}],
            },
        )
        for i, host in enumerate(self.hosts[svc]):
            self.sys(
                t + 15000 * i + 2000,
                "service_lifecycle",
                "stop",
                "info",
                svc,
                f"{host} stopping (SIGTERM)",
                host=host,
                version=old,
            )
            self.sys(
                t + 15000 * i + 9000,
                "service_lifecycle",
                "start",
                "info",
                svc,
                f"{svc} {new} started on {host}",
                host=host,
                version=new,
            )

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
        self.integ(
            s + 90_000,
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
        self.err(
            s + 120_000,
            svc,
            "ProviderUnavailableError",
            f"{prov} unavailable: 100% of calls timing out",
            C.TIMEOUT_TRACE.format(svc=svc.split("-")[0], provider=prov),
            "PROVIDER_DOWN",
            "critical",
        )
        for k in range(0, dur, 2 * MIN if scale > 0.5 else 6 * MIN):
            self.integ(s + k + 5000, prov, kind, "GET /health", "outbound", "timeout", 30000.0, svc, dict(mon))
        for _ in range(max(4, int(30 * scale))):
            p, tt, sid = self.player(), s + int(r() * dur), "sess-" + self.hx()
            if kind == "payment":
                self.deposit(tt, p, sid, p.ip, _PAY_OUT.index(prov))
            else:
                self.game(tt, p, sid, p.ip, 60, provs.index(prov))
        self.integ(
            s + dur + 30_000,
            prov,
            kind,
            "GET /health",
            "outbound",
            "ok",
            85.2,
            svc,
            mon,
            level="notice",
            msg=f"{prov} healthy again after {dur // MIN} min; circuit breaker CLOSED",
        )
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
            self.err(
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
            if r() < 0.5:
                self.api(
                    tt - 4,
                    "GET",
                    "/api/v1/players/me/balance",
                    500,
                    self.ms(5, 50),
                    {"type": "player", "id": p.id},
                    p.ip,
                    None,
                    cid,
                    p.ua,
                )
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
            self.ua(
                tt + int(ms),
                "login",
                "login_failed",
                False,
                "warning",
                "auth-service",
                f"Login failed for {p.email}: invalid password",
                p,
                ip,
                None,
                cid,
                {"user_agent": {"original": C.ATTACKER_UA}},
                full=True,
            )
        t += n * gap + 20_000
        if not takeover:
            for k in range(3):
                self.api(
                    t + 5000 * k,
                    "POST",
                    "/api/v1/auth/login",
                    429,
                    0.8,
                    {"type": "anonymous"},
                    ip,
                    None,
                    None,
                    C.ATTACKER_UA,
                )
            return
        p, sid, sec = victims[-1], "sess-" + self.hx(), self.security
        self.login(t, p, sid, ip, True, C.ATTACKER_UA)  # the account taken over
        self.api(
            t + 40_000,
            "GET",
            "/api/v1/players/me/transactions",
            200,
            35.0,
            {"type": "player", "id": p.id},
            ip,
            sid,
            None,
            C.ATTACKER_UA,
        )
        t += 25 * MIN
        self.admin(
            t,
            sec,
            "profile_change",
            "account_locked",
            f"{sec[0]} locked account {p.id}: suspected account takeover from {ip}",
            {"type": "player", "id": p.id, "name": p.name},
            [{"field": "status", "old": "active", "new": "locked"}],
        )
        self.ua(
            t + 500,
            "login",
            "logout",
            True,
            "info",
            "auth-service",
            f"Session of {p.id} terminated: account locked",
            p,
            ip,
            sid,
            None,
            {"labels": {"reason": "account_locked"}},
        )
