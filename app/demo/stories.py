"""Player stories: one visit of a player, from login to logout, and what they do in between.

`PlayerStories` is mixed into `generator._Sim` (see there for the shared state). A story plans all
of its events at once and pushes them onto the heap; it returns how many events it will produce
(and, for the activities inside a visit, the time it ends), so the run loop can hit the requested
total exactly. Player state (balance, limit, email, phone) changes as the stories go.
"""

from __future__ import annotations

from . import catalog as C
from .events import MIN, EventBuilders

__all__ = ["PlayerStories"]

_MULTS = (0.2, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 10.0, 25.0, 100.0)  # win multipliers of a round


class PlayerStories(EventBuilders):
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
        old: object                     # the changed field's values: text, a number or a flag
        new: object
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
