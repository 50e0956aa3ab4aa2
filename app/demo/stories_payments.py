"""Payment stories inside a player's visit: a deposit (its provider call, a decline or a timeout
during an outage, a pending transfer completed by the provider's webhook later) and a withdrawal
(the request, a KYC check now and then, an employee's approval or rejection, the payout).

`PaymentStories` is a mixin of `stories.PlayerStories` (shared state: generator._Sim). Each story
pushes its events and returns (events it will produce, the time the player is free again).
"""

from __future__ import annotations

from . import catalog as C
from .events import MIN, EventBuilders

__all__ = ["PaymentStories"]


class PaymentStories(EventBuilders):
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
            status, ist, ims, code = (
                "pending" if method in ("bank_transfer", "crypto") else "completed",
                "ok",
                self.ms(120, 1500),
                201,
            )
        self.api(
            t,
            "POST",
            "/api/v1/payments/deposit",
            code,
            int(ims * 10 + self.ms(15, 60) * 10) / 10,
            {"type": "player", "id": p.id},
            ip,
            sid,
            cid,
            p.ua,
            tx=tx,
        )
        ref = None if down else refp + self.hx()
        self.integ(
            t + 12,
            prov,
            "payment",
            "POST /v2/charges",
            "outbound",
            ist,
            ims,
            "payment-service",
            {"type": "player", "id": p.id},
            sid,
            cid,
            {"payment": {"transaction_id": tx, "provider_reference": ref} if ref else {"transaction_id": tx}},
        )
        t2, n = t + 20 + int(ims), 3
        if down:
            self.err(
                t2,
                "payment-service",
                "ProviderTimeoutError",
                f"{prov} did not answer POST /v2/charges within 30 s",
                C.TIMEOUT_TRACE.format(svc="payment", provider=prov),
                "PROVIDER_TIMEOUT",
                actor={"type": "player", "id": p.id},
                sid=sid,
                cid=cid,
            )
            n += 1

        def pay(st):
            d = {
                "transaction_id": tx,
                "direction": "deposit",
                "amount": amt,
                "currency": p.cur,
                "method": method,
                "provider": prov,
                "status": st,
            }
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
        self.ua(
            t2 + 5,
            "payment",
            "deposit",
            ok,
            "info" if ok else "warning",
            "payment-service",
            f"Deposit {tx} of {amt:.2f} {p.cur} via {prov} ({via}): {status}",
            p,
            ip,
            sid,
            cid,
            extra,
        )
        if status == "completed":
            p.bal += amt
        elif status == "pending":
            t3 = t2 + MIN + int(r() * 14 * MIN)
            if t3 < self.E:
                self.integ(
                    t3,
                    prov,
                    "payment",
                    "POST /webhooks/payment-status",
                    "inbound",
                    "ok",
                    self.ms(5, 40),
                    "payment-service",
                    {"type": "integration", "id": prov},
                    None,
                    cid,
                    {"payment": {"transaction_id": tx, "provider_reference": ref}, "target": {"type": "player", "id": p.id}},
                )
                self.ua(
                    t3 + 30,
                    "payment",
                    "deposit",
                    True,
                    "info",
                    "payment-service",
                    f"Deposit {tx} of {amt:.2f} {p.cur} via {prov}: completed",
                    p,
                    ip,
                    sid,
                    cid,
                    {"payment": pay("completed")},
                )
                p.bal += amt
                n += 2
        return n, t2 + 5

    def withdraw(self, t, p, sid, ip):
        r = self.r
        prov, method, _, _ = C.PAYMENT_PROVIDERS[p.pay]
        amt, cid, tx = float(int(p.bal * (0.3 + 0.7 * r()))), self.uuid(), "tx-" + self.hx()
        p.bal -= amt

        def pay(st):
            return {
                "payment": {
                    "transaction_id": tx,
                    "direction": "withdrawal",
                    "amount": amt,
                    "currency": p.cur,
                    "method": method,
                    "provider": prov,
                    "status": st,
                }
            }

        self.api(
            t,
            "POST",
            "/api/v1/payments/withdraw",
            202,
            self.ms(30, 200),
            {"type": "player", "id": p.id},
            ip,
            sid,
            cid,
            p.ua,
            tx=tx,
        )
        self.ua(
            t + 40,
            "payment",
            "withdrawal_requested",
            True,
            "info",
            "payment-service",
            f"Withdrawal {tx} of {amt:.2f} {p.cur} to {prov} requested",
            p,
            ip,
            sid,
            cid,
            pay("pending"),
        )
        n = 2
        if r() < 0.3:
            self.integ(
                t + 60,
                C.KYC_PROVIDER,
                "kyc",
                "POST /v1/checks",
                "outbound",
                "ok",
                self.ms(200, 1500),
                "kyc-service",
                {"type": "player", "id": p.id},
                sid,
                cid,
                {"payment": {"transaction_id": tx}},
            )
            n += 1
        t2 = t + 10 * MIN + int(r() * 230 * MIN)
        if t2 + 5000 >= self.E:
            return n, t + 40
        emp, ok = self.payers[int(r() * len(self.payers))], r() > 0.08
        new = "approved" if ok else "rejected"
        self.admin(
            t2,
            emp,
            "payment",
            "withdrawal_" + new,
            f"{emp[0]} {new} withdrawal {tx} ({amt:.2f} {p.cur})",
            {"type": "withdrawal", "id": tx},
            [{"field": "status", "old": "pending", "new": new}],
            cid,
            pay(new),
        )
        if not ok:
            p.bal += amt
            self.ua(
                t2 + 500,
                "payment",
                "withdrawal",
                False,
                "warning",
                "payment-service",
                f"Withdrawal {tx} rejected: documents required",
                p,
                ip,
                sid,
                cid,
                pay("rejected"),
            )
            self.integ(
                t2 + 900,
                C.EMAIL_PROVIDER,
                "email",
                "POST /v3/send",
                "outbound",
                "ok",
                self.ms(50, 300),
                "notification-service",
                {"type": "service", "id": "notification-service"},
                None,
                cid,
                {"target": {"type": "player", "id": p.id}},
            )
            return n + 3, t + 40
        down, ims = self.outage(prov, t2 + 800), self.ms(150, 1200)
        ims = 30000.0 if down else ims
        self.integ(
            t2 + 800,
            prov,
            "payment",
            "POST /v2/payouts",
            "outbound",
            "timeout" if down else "ok",
            ims,
            "payment-service",
            {"type": "player", "id": p.id},
            sid,
            cid,
            {"payment": {"transaction_id": tx}},
        )
        if down:
            p.bal += amt
        self.ua(
            t2 + 1000 + int(ims),
            "payment",
            "withdrawal",
            not down,
            "error" if down else "info",
            "payment-service",
            f"Withdrawal {tx} of {amt:.2f} {p.cur} {'failed: provider timeout' if down else 'paid out'}",
            p,
            ip,
            sid,
            cid,
            pay("failed" if down else "completed"),
        )
        return n + 3, t + 40
