"""Background traffic: anonymous API requests, provider pings and webhooks, jobs, stray errors and
employees working in the back office.

`BackgroundTraffic` is mixed into `generator._Sim` (see there for the shared state). Each story
returns the number of events it produces; `bg_api` returns its single event instead of pushing it,
since the run loop can yield it right away.
"""

from __future__ import annotations

from . import catalog as C
from .events import EventBuilders

__all__ = ["BackgroundTraffic"]

# Weighted tables flattened once, so a pick is a single index: table[int(r() * len(table))].
_BG_API = tuple(m for m, _, w in C.BACKGROUND_API for _ in range(w))
_BG_PATH = tuple(p for _, p, w in C.BACKGROUND_API for _ in range(w))
_JOBS = tuple(j for j in C.JOBS for _ in range(j[4]))
_SERVICES = tuple(C.SERVICES)
_IPS = tuple(f"{p}{i}" for p in C.IP_PREFIXES for i in range(1, 200))
_PINGS = tuple(
    [(g[0], "game", "game-service") for g in C.GAME_PROVIDERS]
    + [(p[0], "payment", "payment-service") for p in C.PAYMENT_PROVIDERS]
    + [
        (C.KYC_PROVIDER, "kyc", "kyc-service"),
        (C.SMS_PROVIDER, "sms", "notification-service"),
        (C.EMAIL_PROVIDER, "email", "notification-service"),
        (C.SPORTS_PROVIDER, "game", "sportsbook-service"),
    ]
)
_ERR_ROUTES = {
    "wallet-service": ("GET", "/api/v1/players/me/balance"),  # the player request behind an error
    "bonus-service": ("GET", "/api/v1/players/me/bonuses"),
    "player-service": ("PATCH", "/api/v1/players/me"),
    "sportsbook-service": ("POST", "/api/v1/sportsbook/bets"),
}


class BackgroundTraffic(EventBuilders):
    def bg_api(self) -> dict:  # anonymous traffic and load-balancer health checks; returned, not pushed
        r = self.r
        k = int(r() * len(_BG_API))
        method, path, x, y = _BG_API[k], _BG_PATH[k], r(), r()
        if path == "/healthz":
            return self.api(
                None,
                "GET",
                path,
                200,
                int(4 + 30 * y * y * y) / 10,
                {"type": "service", "id": "load-balancer"},
                "192.0.2.250",
                classified=x < 0.75,
            )
        status = (
            200 if x < 0.93 else 304 if x < 0.955 else 404 if x < 0.975 else 429 if x < 0.99 else 500 if x < 0.996 else 503
        )
        return self.api(
            None,
            method,
            path,
            201 if method == "POST" and status == 200 else status,
            int(40 + 1800 * y * y * y) / 10,
            {"type": "anonymous"},
            _IPS[int(r() * len(_IPS))],
            ua=C.USER_AGENTS[int(r() * len(C.USER_AGENTS))],
            classified=r() < 0.68,
        )

    def bg_integration(self, t) -> int:
        r, x = self.r, self.r()
        if x < 0.5:  # health pings to every kind of provider
            prov, kind, svc = _PINGS[int(r() * len(_PINGS))]
            down = self.outage(prov, t)
            self.integ(
                t,
                prov,
                kind,
                "GET /health",
                "outbound",
                "timeout" if down else "ok",
                30000.0 if down else self.ms(20, 200),
                svc,
                {"type": "service", "id": "integration-monitor"},
                level="error" if down else "debug",
            )
        elif x < 0.8:
            self.integ(
                t,
                C.SPORTS_PROVIDER,
                "game",
                "POST /v1/odds-updates",
                "inbound",
                "ok",
                self.ms(2, 30),
                "sportsbook-service",
                {"type": "integration", "id": C.SPORTS_PROVIDER},
                level="debug",
            )
        else:
            p = self.player()
            self.integ(
                t,
                C.KYC_PROVIDER,
                "kyc",
                "POST /webhooks/verification",
                "inbound",
                "ok" if r() < 0.97 else "rejected",
                self.ms(5, 50),
                "kyc-service",
                {"type": "integration", "id": C.KYC_PROVIDER},
                None,
                None,
                {"target": {"type": "player", "id": p.id}},
            )
        return 1

    def job(self, t) -> int:
        r = self.r
        if r() < 0.06:
            svc = _SERVICES[int(r() * len(_SERVICES))]
            self.sys(
                t,
                "service_lifecycle",
                "config_reload",
                "info",
                svc,
                f"{svc} reloaded configuration (feature flags rev {int(r() * 900) + 100})",
            )
            return 1
        name, svc, secs, lvl, _ = _JOBS[int(r() * len(_JOBS))]
        dur, run = int(secs * 1000 * (0.5 + r())), "run-" + self.hx()
        self.sys(t, "job", "job_started", lvl, svc, f"Job {name} started", extra={"labels": {"job": name, "run": run}})
        if r() < 0.03:
            self.sys(
                t + dur,
                "job",
                "job_failed",
                "error",
                svc,
                f"Job {name} failed after {dur / 1000:.1f} s",
                False,
                {
                    "labels": {"job": name, "run": run},
                    "error": {"type": "TimeoutError", "message": "lock wait timeout exceeded"},
                },
            )
        else:
            self.sys(
                t + dur,
                "job",
                "job_completed",
                lvl,
                svc,
                f"Job {name} completed in {dur / 1000:.1f} s ({int(r() * 5000)} items)",
                extra={"labels": {"job": name, "run": run}},
            )
        return 2

    def bg_error(self, t) -> int:
        r = self.r
        svc, etype, emsg, code, trace = C.ERRORS[int(r() * len(C.ERRORS))]
        route = _ERR_ROUTES.get(svc)
        if route and r() < 0.5:  # a player's request failed
            p, cid = self.player(), self.uuid()
            self.api(t, route[0], route[1], 500, self.ms(20, 900), {"type": "player", "id": p.id}, p.ip, None, cid, p.ua)
            self.err(t + 3, svc, etype, emsg, trace, code, actor={"type": "player", "id": p.id}, cid=cid)
            return 2
        self.err(t, svc, etype, emsg, trace, code, "critical" if r() < 0.05 else "error", classified=r() < 0.4)
        return 1

    def admin_work(self, t) -> int:
        r = self.r
        emp, p, x, n = self.employees[int(r() * len(self.employees))], self.player(), r(), 1
        eid, target, cls = emp[0], {"type": "player", "id": p.id, "name": p.name}, r() < 0.65
        if r() < 0.5:  # the back-office request behind the action
            self.api(
                t,
                "GET",
                f"/backoffice/api/players/{p.id}",
                200,
                self.ms(8, 120),
                {"type": "employee", "id": eid},
                "198.51.100.10",
                emp[3],
                svc="backoffice",
            )
            t, n = t + 150, 2
        if x < 0.35:
            self.admin(t, emp, "access", "player_viewed", f"{eid} viewed player {p.id}", target, classified=cls)
        elif x < 0.47:
            self.admin(
                t,
                emp,
                "access",
                "player_search",
                f'{eid} searched players for "{p.email}"',
                None,
                extra={"labels": {"query": p.email}},
                classified=cls,
            )
        elif x < 0.58:
            old, p.limit = p.limit, float(C.DEPOSIT_LIMITS[int(r() * len(C.DEPOSIT_LIMITS))])
            self.admin(
                t,
                emp,
                "profile_change",
                "limit_changed",
                f"{eid} set deposit limit of {p.id} to {p.limit:.0f}",
                target,
                [{"field": "deposit_limit", "old": old, "new": p.limit}],
                classified=cls,
            )
        elif x < 0.68:
            delta, old = float(C.DEPOSIT_AMOUNTS[int(r() * 5)]), int(p.bal * 100) / 100
            p.bal = int(old * 100 + delta * 100 + 0.5) / 100
            self.admin(
                t,
                emp,
                "payment",
                "balance_adjusted",
                f"{eid} credited {delta:.2f} {p.cur} to {p.id} (goodwill)",
                target,
                [{"field": "balance", "old": old, "new": p.bal}],
                classified=cls,
                extra={
                    "payment": {
                        "transaction_id": "tx-" + self.hx(),
                        "direction": "adjustment",
                        "amount": delta,
                        "currency": p.cur,
                        "status": "completed",
                    }
                },
            )
        elif x < 0.78:
            self.admin(
                t,
                emp,
                "profile_change",
                "kyc_approved",
                f"{eid} approved KYC documents of {p.id}",
                target,
                [{"field": "kyc_status", "old": "pending", "new": "verified"}],
                classified=cls,
            )
        elif x < 0.84:
            self.admin(
                t,
                emp,
                "access",
                "export",
                f"{eid} exported {int(r() * 3000) + 10} transactions of {p.id} to CSV",
                target,
                classified=cls,
            )
        elif x < 0.92:
            self.admin(
                t,
                emp,
                "login",
                "login",
                f"Employee {eid} signed in to the back office",
                None,
                classified=cls,
                extra={"source": {"ip": "198.51.100.10"}},
            )
        elif x < 0.97:
            self.admin(
                t,
                emp,
                "other",
                "note_added",
                f"{eid} added a note to {p.id}: \"Called about 'missing' deposit\"",
                target,
                classified=cls,
            )
        else:
            other, boss = self.employees[int(r() * len(self.employees))], self.admins[int(r() * len(self.admins))]
            self.admin(
                t,
                boss,
                "permission_change",
                "role_granted",
                f"{boss[0]} granted 'senior_support' to {other[0]}",
                {"type": "user", "id": other[0], "name": other[1]},
                [{"field": "roles", "old": list(other[2]), "new": [*other[2], "senior_support"]}],
            )
        return n
