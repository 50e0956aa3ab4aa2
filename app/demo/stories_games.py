"""Game stories inside a player's visit: a casino session (the launch, its provider's session,
the rounds with the wallet's debits and credits, a provider that stops answering during an outage)
and a sports bet (placed now, settled by the provider up to three hours later).

`GameStories` is a mixin of `stories.PlayerStories` (shared state: generator._Sim). A session's
rounds are planned at once (so the event count is known) and rendered lazily by a task (`_rounds`),
one round at a time, so a long session does not sit in the heap as hundreds of dicts.
"""

from __future__ import annotations

from . import catalog as C
from .events import MIN, EventBuilders

__all__ = ["GameStories"]

_MULTS = (0.2, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 10.0, 25.0, 100.0)  # win multipliers of a round


class GameStories(EventBuilders):
    def game(self, t, p, sid, ip, room, prov_idx=None):
        r = self.r
        if prov_idx is None:
            prov_idx = p.game if r() < 0.7 else int(r() * len(C.GAME_PROVIDERS))
        prov, pre, live, games = C.GAME_PROVIDERS[prov_idx]
        gid, gname = games[int(r() * len(games))]
        cid, down = self.uuid(), self.outage(prov, t)
        ims = 30000.0 if down else self.ms(60, 600)
        self.api(
            t,
            "POST",
            f"/api/v1/games/{gid}/launch",
            504 if down else 200,
            int(ims * 10 + 150) / 10,
            {"type": "player", "id": p.id},
            ip,
            sid,
            cid,
            p.ua,
        )
        self.integ(
            t + 8,
            prov,
            "game",
            "POST /session/create",
            "outbound",
            "timeout" if down else "ok",
            ims,
            "game-service",
            {"type": "player", "id": p.id},
            sid,
            cid,
            {"game": {"provider": prov, "id": gid}},
        )
        t += 10 + int(ims)
        if down:
            self.err(
                t,
                "game-service",
                "ProviderTimeoutError",
                f"{prov} did not answer POST /session/create within 30 s",
                C.TIMEOUT_TRACE.format(svc="game", provider=prov),
                "PROVIDER_TIMEOUT",
                actor={"type": "player", "id": p.id},
                sid=sid,
                cid=cid,
            )
            return 3, t
        self.ua(
            t,
            "game_session",
            "game_session_open",
            True,
            "info",
            "game-service",
            f"{p.id} opened {gname} ({prov})",
            p,
            ip,
            sid,
            cid,
            {"game": {"provider": prov, "id": gid, "name": gname, "currency": p.cur}},
        )
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
            push(
                t,
                {
                    "@timestamp": "",
                    "message": f"{prov} POST /wallet/debit inbound: ok in {ms} ms",
                    "log": {"level": "info"},
                    "event": {
                        "component": "integration",
                        "type": "provider_request",
                        "action": "provider_request",
                        "outcome": "success",
                    },
                    "service": {"name": "wallet-service"},
                    "integration": {
                        "provider": prov,
                        "kind": "game",
                        "endpoint": "POST /wallet/debit",
                        "direction": "inbound",
                        "status": "ok",
                        "duration": ms,
                    },
                    "actor": {"type": "integration", "id": prov},
                    "session": {"id": sid},
                    "correlation": {"id": cid},
                    "target": {"type": "player", "id": pid},
                    "game": {"round_id": rid, "bet": bet, "currency": cur},
                },
            )
            push(
                t + 25,
                {
                    "@timestamp": "",
                    "message": f"Round {rid} on {gname}: bet {bet:.2f} {cur}, win {win:.2f}",
                    "log": {"level": "info"},
                    "event": {
                        "component": "user_activity",
                        "type": "game_session",
                        "action": "game_round",
                        "outcome": "success",
                    },
                    "service": {"name": "game-service"},
                    "actor": {"type": "player", "id": pid, "ip": ip},
                    "session": {"id": sid},
                    "correlation": {"id": cid},
                    "game": {
                        "provider": prov,
                        "id": gid,
                        "name": gname,
                        "round_id": rid,
                        "bet": bet,
                        "win": win,
                        "currency": cur,
                    },
                },
            )
            if win:
                self.integ(
                    t + 40,
                    prov,
                    "game",
                    "POST /wallet/credit",
                    "inbound",
                    "ok",
                    int(r() * 400 + 40) / 10,
                    "wallet-service",
                    {"type": "integration", "id": prov},
                    sid,
                    cid,
                    {"target": {"type": "player", "id": pid}, "game": {"round_id": rid, "win": win, "currency": cur}},
                )
            if poll:
                self.api(
                    t + 300,
                    "GET",
                    "/api/v1/players/me/balance",
                    200,
                    self.ms(3, 40),
                    {"type": "player", "id": pid},
                    ip,
                    sid,
                    None,
                    p.ua,
                )
        if err_t:
            yield err_t
            self.err(
                err_t,
                "game-service",
                "ProviderTimeoutError",
                f"{prov} stopped answering during a round",
                C.TIMEOUT_TRACE.format(svc="game", provider=prov),
                "PROVIDER_TIMEOUT",
                actor={"type": "player", "id": pid},
                sid=sid,
                cid=cid,
            )
        yield t_close
        self.ua(
            t_close,
            "game_session",
            "game_session_close",
            True,
            "info",
            "game-service",
            f"{pid} closed {gname} after {len(plan)} rounds: bet {bets:.2f} {cur}, won {wins:.2f}",
            p,
            ip,
            sid,
            cid,
            {"game": {"provider": prov, "id": gid, "name": gname, "currency": cur}},
        )

    def sports(self, t, p, sid, ip):
        r = self.r
        eid, ename = C.SPORTS_EVENTS[int(r() * len(C.SPORTS_EVENTS))]
        market, prov, cur = C.SPORTS_MARKETS[int(r() * len(C.SPORTS_MARKETS))], C.SPORTS_PROVIDER, p.cur
        stake = float(min(int(p.bal), C.DEPOSIT_AMOUNTS[int(r() * 6)]))
        odds, cid, bid, ms = 1.2 + int(r() * r() * 60) / 10, self.uuid(), "sb-" + self.hx(), self.ms(30, 250)
        game = {"provider": prov, "id": eid, "name": ename, "round_id": bid, "currency": cur}
        self.api(
            t,
            "POST",
            "/api/v1/sportsbook/bets",
            201,
            int(ms * 10 + 200) / 10,
            {"type": "player", "id": p.id},
            ip,
            sid,
            cid,
            p.ua,
        )
        self.integ(
            t + 5,
            prov,
            "game",
            "POST /v1/price-check",
            "outbound",
            "ok",
            ms,
            "sportsbook-service",
            {"type": "player", "id": p.id},
            sid,
            cid,
            {"game": {"id": eid, "round_id": bid}},
        )
        self.ua(
            t + 10 + int(ms),
            "game_session",
            "bet_placed",
            True,
            "info",
            "sportsbook-service",
            f'Bet {bid}: {stake:.2f} {cur} on "{market}" in {ename} at {odds:.2f}',
            p,
            ip,
            sid,
            cid,
            {"game": dict(game, bet=stake)},
        )
        p.bal -= stake
        t3 = t + 20 * MIN + int(r() * 160 * MIN)
        if t3 >= self.E:
            return 3, t + 10 + int(ms)
        win = int(stake * odds * 100) / 100 if r() < 0.95 / odds else 0.0
        p.bal += win
        self.integ(
            t3,
            prov,
            "game",
            "POST /v1/settlements",
            "inbound",
            "ok",
            self.ms(5, 60),
            "sportsbook-service",
            {"type": "integration", "id": prov},
            None,
            cid,
            {"target": {"type": "player", "id": p.id}, "game": {"id": eid, "round_id": bid}},
        )
        self.ua(
            t3 + 40,
            "game_session",
            "bet_settled",
            True,
            "info",
            "sportsbook-service",
            f"Bet {bid} settled: " + (f"won {win:.2f} {cur}" if win else "lost"),
            p,
            ip,
            sid,
            cid,
            {"game": dict(game, bet=stake, win=win)},
        )
        return 5, t + 10 + int(ms)
