"""Alert notifications: destinations and the delivery queue. The message and its evidence are in
messages.py, the three notifiers in notifiers.py.

Destinations (`alert_destinations`): `webhook` (a JSON POST signed with HMAC-SHA256 over the raw
body with the destination's secret, header `X-Platlogs-Signature: sha256=<hex>`), `email` (SMTP
through PLATLOGS_SMTP_*; target: comma-separated addresses) and `slack` (a Slack-compatible
incoming webhook: `{"text", "blocks"}`).

Retries: the lifecycle writes each notification to `alert_deliveries` in the transaction that
changes the alert (an outbox). `deliver_due(…, now_ms)` — called at the end of every scheduler
tick — claims the due rows (a conditional UPDATE, so two schedulers never send the same row),
sends each, and records the outcome: sent; a retryable failure (connection refused, timeout,
HTTP 408/425/429/5xx, SMTP 4xx) is tried again at now + backoff (30 s, 60 s, 120 s … at most
1 h) on a later tick; a permanent one (another HTTP 4xx, a redirect, SMTP 5xx, no SMTP relay
configured, an unknown destination) or the last allowed attempt marks the row `failed`, sets
the alert's `last_delivery_error` and writes `delivery_failed` to its history. A later
notification to a destination waits while an earlier one to it is still pending, so a
resolution never overtakes its firing."""

from __future__ import annotations

import logging
import re
import secrets as secrets_module
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from ..meta.alert_tables import AlertDelivery, AlertInstance, Destination
from . import history
from .changes import moment
from .common import SCHEDULER
from .lifecycle import Alerts
from .messages import Message, build_message, fetch_samples, search_url  # noqa: F401  (callers' names)
from .notifiers import SIGNATURE_HEADER, DeliveryError, notifiers_for, post_json, sign  # noqa: F401

log = logging.getLogger(__name__)

KINDS = ("webhook", "email", "slack")
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600
LEASE_S = 300  # a claimed delivery whose sender died is claimed again after this long
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+\Z")


def backoff_s(attempts: int, base_s: int = BACKOFF_BASE_S, max_s: int = BACKOFF_MAX_S) -> int:
    """The pause after the `attempts`-th failed attempt: base, 2 x base, 4 x base … at most max_s."""
    return min(base_s * 2 ** max(attempts - 1, 0), max_s)


# -- destinations --------------------------------------------------------------------------------


def _check_target(kind: str, target: str) -> str:
    target = (target or "").strip()
    if not target or len(target) > 2048 or "\x00" in target:
        raise ValueError("target: 1-2048 characters")
    if kind == "email":
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        bad = [a for a in addresses if not _ADDRESS.match(a)]
        if not addresses or bad:
            raise ValueError(f"target: e-mail addresses separated by commas (not {', '.join(bad) or 'empty'})")
        return ", ".join(addresses)
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("target: an http:// or https:// URL")
    return target


def save_destination(
    alerts: Alerts, name: str, kind: str, target: str, *, secret: str | None = None, by: str, at_ms: int | None = None
) -> tuple[Destination, str | None]:
    """Create or replace a destination. A webhook without a secret gets a generated one, returned
    (show it once: the receiver needs it to check signatures); otherwise the second value is None."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("name: 1-64 of a-z, 0-9, '.', '_', '-' (starting with a letter or digit)")
    if kind not in KINDS:
        raise ValueError(f"kind: one of {', '.join(KINDS)}")
    target = _check_target(kind, target)
    generated = None
    if kind == "webhook" and not secret:
        secret = generated = secrets_module.token_urlsafe(32)
    if secret is not None and (len(secret) > 512 or "\x00" in secret):
        raise ValueError("secret: at most 512 characters")
    at = moment(at_ms)
    who = by.strip()[:64]
    with alerts.Session() as s:
        row = s.scalar(select(Destination).where(Destination.name == name))
        if row is None:
            row = Destination(
                name=name, kind=kind, target=target, secret=secret or None, created_by=who, created_at=at, updated_at=at
            )
            s.add(row)
            action = "destination_created"
        else:
            row.kind, row.target, row.secret, row.updated_at = kind, target, secret or None, at
            action = "destination_updated"
        history.destination_change(s, action, who, at, f"{name}: {kind} {_shown_target(kind, target)}")
        s.commit()
        return row, generated


def _shown_target(kind: str, target: str) -> str:
    """A target as recorded in the history: a Slack webhook URL is itself a secret."""
    if kind == "slack":
        parts = urlsplit(target)
        return f"{parts.scheme}://{parts.netloc}/…"
    return target


def delete_destination(alerts: Alerts, name: str, *, by: str, at_ms: int | None = None) -> bool:
    at = moment(at_ms)
    with alerts.Session() as s:
        row = s.scalar(select(Destination).where(Destination.name == name))
        if row is None:
            return False
        s.delete(row)
        history.destination_change(s, "destination_deleted", by.strip()[:64], at, name)
        s.commit()
        return True


def destinations(alerts: Alerts) -> list[Destination]:
    with alerts.Session() as s:
        return list(s.scalars(select(Destination).order_by(Destination.name)))


def destination(alerts: Alerts, name: str) -> Destination | None:
    with alerts.Session() as s:
        return s.scalar(select(Destination).where(Destination.name == name))


# -- the delivery queue ------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _due(at):
    return or_(
        and_(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= at),
        and_(AlertDelivery.status == "sending", AlertDelivery.lease_until <= at),
    )


def claim_due(alerts: Alerts, at_ms: int, claimed_by: str, limit: int = 100, lease_s: int = LEASE_S) -> list[AlertDelivery]:
    """Due deliveries, each claimed by one conditional UPDATE (the attempt is counted now)."""
    at = moment(at_ms)
    earlier = aliased(AlertDelivery)
    blocked = exists().where(
        earlier.instance_id == AlertDelivery.instance_id,
        earlier.destination == AlertDelivery.destination,
        earlier.id < AlertDelivery.id,
        earlier.status.in_(("pending", "sending")),
    )
    with alerts.Session() as s:
        ids = s.scalars(
            select(AlertDelivery.id)
            .where(_due(at), ~blocked)
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(limit)
        ).all()
    claimed = []
    for delivery_id in ids:
        with alerts.Session() as s:
            won = s.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == delivery_id, _due(at))
                .values(
                    status="sending",
                    lease_until=at + timedelta(seconds=lease_s),
                    claimed_by=claimed_by[:128],
                    attempts=AlertDelivery.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            s.commit()
            if won:
                claimed.append(s.get(AlertDelivery, delivery_id))
    return claimed


def _record(
    alerts: Alerts,
    delivery: AlertDelivery,
    at_ms: int,
    error: DeliveryError | None,
    *,
    max_attempts: int,
    base_s: int,
    max_s: int,
) -> str:
    """Write the outcome of one attempt: "sent", "retrying" or "failed"."""
    at = moment(at_ms)
    with alerts.Session() as s:
        row = s.get(AlertDelivery, delivery.id)
        inst = s.get(AlertInstance, row.instance_id)
        if error is None:
            row.status, row.sent_at, row.last_error, row.lease_until = "sent", at, None, None
            if inst is not None and (inst.last_delivery_error or "").startswith(f"{row.destination}:"):
                inst.last_delivery_error = None
            outcome = "sent"
        elif error.retryable and row.attempts < max_attempts:
            row.status, row.last_error, row.lease_until = "pending", str(error)[:1024], None
            row.next_attempt_at = at + timedelta(seconds=backoff_s(row.attempts, base_s, max_s))
            outcome = "retrying"
        else:
            why = f"after {row.attempts} attempts" if error.retryable else "permanent"
            message = f"{row.destination}: {error} ({why})"
            row.status, row.last_error, row.lease_until = "failed", str(error)[:1024], None
            if inst is not None:
                inst.last_delivery_error = message[:1024]
                history.delivery_failed(s, inst, at, f"{row.kind} {message}")
            outcome = "failed"
        s.commit()
        return outcome


def deliver_due(
    alerts: Alerts,
    store,
    settings,
    at_ms: int,
    *,
    claimed_by: str = SCHEDULER,
    notifiers: dict | None = None,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    backoff_base_s: int = BACKOFF_BASE_S,
    backoff_max_s: int = BACKOFF_MAX_S,
) -> DeliveryReport:
    """Send every delivery due at `at_ms` and record each outcome (see the module's docstring)."""
    notifiers = notifiers if notifiers is not None else notifiers_for(settings)
    report = DeliveryReport()
    handled = 0
    while handled < limit:  # rounds: a delivery sent may let the next one to its destination go
        batch = claim_due(alerts, at_ms, claimed_by, limit - handled)
        if not batch:
            break
        handled += len(batch)
        for delivery in batch:
            _deliver(
                alerts,
                store,
                settings,
                at_ms,
                delivery,
                notifiers,
                report,
                max_attempts=max_attempts,
                base_s=backoff_base_s,
                max_s=backoff_max_s,
            )
    return report


def _deliver(
    alerts: Alerts, store, settings, at_ms: int, delivery: AlertDelivery, notifiers: dict, report: DeliveryReport, **backoff
) -> None:
    """One attempt at one claimed delivery, its outcome recorded and counted in `report`."""
    error = None
    target = destination(alerts, delivery.destination)
    notifier = notifiers.get(target.kind) if target is not None else None
    if target is None:
        error = DeliveryError(f"no destination named {delivery.destination!r}", retryable=False)
    elif notifier is None:
        error = DeliveryError(f"no notifier for kind {target.kind!r}", retryable=False)
    else:
        payload = delivery.data
        samples, note = fetch_samples(store, payload["evidence"].get("sample_ids") or [])
        message = build_message(
            payload,
            samples,
            settings.base_url,
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            sent_at_ms=at_ms,
            note=note,
        )
        try:
            notifier.send(target, message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug or an odd failure: retried, and reported
            log.exception("delivery #%s to %s", delivery.id, delivery.destination)
            error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
    outcome = _record(alerts, delivery, at_ms, error, **backoff)
    if outcome == "sent":
        report.sent += 1
    elif outcome == "retrying":
        report.retrying += 1
        report.errors.append(f"delivery #{delivery.id} to {delivery.destination}: {error} (will retry)")
    else:
        report.failed += 1
        report.errors.append(f"delivery #{delivery.id} to {delivery.destination}: {error} (failed)")
