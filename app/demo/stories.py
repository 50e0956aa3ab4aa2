"""Player stories: one visit of a player, from login to logout, and what they do in between.

`PlayerStories` is mixed into `generator._Sim` (see there for the shared state). A story plans all
of its events at once and pushes them onto the heap; it returns how many events it will produce
(and, for the activities inside a visit, the time it ends), so the run loop can hit the requested
total exactly. Player state (balance, limit, email, phone) changes as the stories go.

This module holds the visit itself (login, the choice of activities, logout) and the small
activities (profile changes, browsing); the money stories (deposits, withdrawals) are in
stories_payments.py, the games (casino sessions with their rounds, sports bets) in stories_games.py.
"""

from __future__ import annotations

from . import catalog as C
from .events import MIN
from .stories_games import GameStories
from .stories_payments import PaymentStories

__all__ = ["PlayerStories"]


class PlayerStories(PaymentStories, GameStories):
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
            self.api(
                t, "POST", "/api/v1/auth/logout", 204, self.ms(3, 40), {"type": "player", "id": p.id}, ip, sid, None, p.ua
            )
            self.ua(t + 8, "login", "logout", True, "info", "auth-service", f"Player {p.id} logged out", p, ip, sid, None)
            return n + 2
        self.ua(
            t + 30 * MIN,
            "login",
            "logout",
            True,
            "info",
            "auth-service",
            f"Session of {p.id} expired after 30 min idle",
            p,
            ip,
            sid,
            None,
            {"labels": {"reason": "idle_timeout"}},
        )
        return n + 1

    def login(self, t, p, sid, ip, ok, ua=None) -> int:
        cid, ms, ua = self.uuid(), self.ms(40, 300), ua or p.ua
        self.api(t, "POST", "/api/v1/auth/login", 200 if ok else 401, ms, {"type": "player", "id": p.id}, ip, sid, cid, ua)
        msg = f"Player {p.id} logged in" if ok else f"Login failed for {p.email}: invalid password"
        self.ua(
            t + int(ms),
            "login",
            "login" if ok else "login_failed",
            ok,
            "info" if ok else "warning",
            "auth-service",
            msg,
            p,
            ip,
            sid,
            cid,
            {"user_agent": {"original": ua}},
            full=True,
        )
        if ok and self.r() < 0.05:  # new device: one-time code by SMS
            self.integ(
                t + int(ms) + 5,
                C.SMS_PROVIDER,
                "sms",
                "POST /v1/messages",
                "outbound",
                "ok",
                self.ms(80, 400),
                "auth-service",
                {"type": "player", "id": p.id},
                sid,
                cid,
            )
            return 3
        return 2

    def profile(self, t, p, sid, ip):
        r, x, notify = self.r, self.r(), None
        old: object  # the changed field's values: text, a number or a flag
        new: object
        if x < 0.3:
            field, old = "email", p.email
            p.email = new = f"{p.id.replace('-', '')}.{self.hx()[:5]}@{C.MAIL_DOMAINS[int(r() * 5)]}"
            notify = (C.EMAIL_PROVIDER, "email", "POST /v3/send", "notification-service")
        elif x < 0.55:
            field, old = "phone", p.phone
            prefix = p.phone[: p.phone.index(" ")]
            p.phone = new = f"{prefix} 7{int(r() * 9)} {int(r() * 900) + 100} {int(r() * 9000) + 1000}"
            notify = (C.SMS_PROVIDER, "sms", "POST /v1/messages", "notification-service")
        elif x < 0.9:
            field, old, new = "deposit_limit", p.limit, float(C.DEPOSIT_LIMITS[int(r() * len(C.DEPOSIT_LIMITS))])
            p.limit = new = new if new != old else old * 2
        else:
            field, old, new = "marketing_opt_in", True, False
        ms = self.ms(20, 150)
        self.api(
            t,
            "PUT" if field == "deposit_limit" else "PATCH",
            "/api/v1/players/me/limits" if field == "deposit_limit" else "/api/v1/players/me",
            200,
            ms,
            {"type": "player", "id": p.id},
            ip,
            sid,
            None,
            p.ua,
        )
        self.ua(
            t + int(ms),
            "profile_change",
            field + "_changed",
            True,
            "info",
            "player-service",
            f"Player {p.id} changed {field.replace('_', ' ')}",
            p,
            ip,
            sid,
            None,
            {"changes": [{"field": field, "old": old, "new": new}]},
            full=True,
        )
        if notify:
            prov, kind, endpoint, svc = notify
            self.integ(
                t + int(ms) + 200,
                prov,
                kind,
                endpoint,
                "outbound",
                "ok",
                self.ms(60, 400),
                svc,
                {"type": "service", "id": svc},
                None,
                None,
                {"target": {"type": "player", "id": p.id}},
            )
            return 3, t + int(ms)
        return 2, t + int(ms)

    def browse(self, t, p, sid, ip):
        r, n = self.r, 0
        for _ in range(1 + int(r() * 4)):
            x = r()
            path = C.PLAYER_GETS[int(r() * len(C.PLAYER_GETS))]
            if x < 0.99:
                self.api(
                    t,
                    "GET",
                    path,
                    200 if x < 0.92 else 304,
                    self.ms(5, 200),
                    {"type": "player", "id": p.id},
                    ip,
                    sid,
                    None,
                    p.ua,
                )
                n += 1
            else:  # a 500 with the error behind it
                svc, etype, emsg, code, trace = C.ERRORS[0]
                cid = self.uuid()
                self.api(t, "GET", path, 500, self.ms(20, 900), {"type": "player", "id": p.id}, ip, sid, cid, p.ua)
                self.err(t + 2, svc, etype, emsg, trace, code, actor={"type": "player", "id": p.id}, sid=sid, cid=cid)
                n += 2
            t += 1500 + int(r() * 20000)
        return n, t
