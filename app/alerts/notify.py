"""Alert notifications: destinations, the evidence each message carries, the three notifiers
and the delivery queue.

Destinations (`alert_destinations`): `webhook` (a JSON POST signed with HMAC-SHA256 over the raw
body with the destination's secret, header `X-Platlogs-Signature: sha256=<hex>`), `email` (SMTP
through PLATLOGS_SMTP_*; target: comma-separated addresses) and `slack` (a Slack-compatible
incoming webhook: `{"text", "blocks"}`).

Every message carries the evidence: the rule, the group, the value, the threshold, up to five
sample events (fetched by id from the store when the message is sent; personal fields masked,
since the message leaves the back office) and a link to the search that shows them
(`<PLATLOGS_BASE_URL>/?q=…&from=…&to=…`).

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

import hashlib
import hmac
import http.client
import json
import logging
import math
import re
import secrets as secrets_module
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlencode, urlsplit

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from . import history
from .lifecycle import SCHEDULER, AlertDelivery, AlertInstance, Alerts, Destination, iso, now_ms, to_dt

log = logging.getLogger(__name__)

KINDS = ("webhook", "email", "slack")
SIGNATURE_HEADER = "X-Platlogs-Signature"
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 3600
LEASE_S = 300          # a claimed delivery whose sender died is claimed again after this long
TIMEOUT_S = 10
MAX_SAMPLES = 5
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+\Z")
_LABEL = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}


class DeliveryError(Exception):
    """A notification was not delivered; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


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


def save_destination(alerts: Alerts, name: str, kind: str, target: str, *, secret: str | None = None,
                     by: str, at_ms: int | None = None) -> tuple[Destination, str | None]:
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
    at = to_dt(at_ms if at_ms is not None else now_ms())
    who = by.strip()[:64]
    with alerts.Session() as s:
        row = s.scalar(select(Destination).where(Destination.name == name))
        if row is None:
            row = Destination(name=name, kind=kind, target=target, secret=secret or None, created_by=who,
                              created_at=at, updated_at=at)
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
    at = to_dt(at_ms if at_ms is not None else now_ms())
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


# -- the message and its evidence ------------------------------------------------------------------

@dataclass
class Message:
    kind: str                 # firing, renotify, resolved
    title: str                # one line: subject, Slack header
    text: str                 # plain text with every piece of evidence
    body: dict                # the webhook's JSON document
    search_url: str
    samples: list[dict] = field(default_factory=list)


def search_url(base_url: str, query: str, from_ms: int | None, to_ms: int | None) -> str:
    params = {"q": query}
    if from_ms is not None:
        params["from"] = iso(from_ms)
    if to_ms is not None:
        params["to"] = iso(to_ms)
    return f"{base_url.rstrip('/')}/?{urlencode(params)}"


def _group_query(query: str, group_by: str | None, group: str | None) -> str:
    if not group_by or group is None:
        return query
    from ..query.quoting import term as query_term
    term = query_term(group_by, group)
    return term if query.strip() in ("", "*") else f"({query}) AND {term}"


def fetch_samples(store, ids: list[str]) -> tuple[list[dict], str | None]:
    """Up to five events by id, personal fields masked; and a note when the store failed."""
    from ..search.masking import mask_event
    events, note = [], None
    for event_id in ids[:MAX_SAMPLES]:
        try:
            event = store.get(event_id)
        except Exception as exc:   # the notification still goes out, without this sample
            note = f"sample events unavailable: {exc}"
            break
        if event is not None:
            events.append(mask_event(event))
    return events, note


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _line(event: dict) -> str:
    meta = event.get("event") or {}
    actor = (event.get("actor") or {}).get("id") or ""
    kind = "/".join(str(x) for x in (meta.get("component"), meta.get("type") or meta.get("action")) if x)
    level = (event.get("log") or {}).get("level") or ""
    message = str(event.get("message") or "").replace("\n", " ")[:200]
    return "  ".join(str(x) for x in (event.get("@timestamp", ""), level, kind, actor, message) if x != "")


def build_message(payload: dict, samples: list[dict], base_url: str, *, delivery_id: int = 0, attempt: int = 1,
                  sent_at_ms: int | None = None, note: str | None = None) -> Message:
    """The message for one delivery, from the evidence the lifecycle queued."""
    kind, rule, alert, evidence = payload["event"], payload["rule"], payload["alert"], payload["evidence"]
    moment = datetime.fromisoformat(payload["moment"].replace("Z", "+00:00"))
    query = evidence.get("search_query") or _group_query(rule["query"], rule.get("group_by"), alert.get("group"))
    end_ms = evidence.get("window_end_ms") or int(moment.timestamp() * 1000)
    start_ms = evidence.get("window_start_ms") or end_ms - rule["window_s"] * 1000
    url = search_url(base_url, query, start_ms, end_ms)
    group = alert.get("group")
    where = f" — {rule.get('group_by') or 'group'}={group}" if group is not None else ""
    title = f"[{_LABEL.get(kind, kind.upper())}] {rule['name']}{where}".replace("\r", " ").replace("\n", " ")[:250]
    lines = [title, alert.get("detail") or f"value {_fmt(alert.get('value'))}, threshold {_fmt(alert.get('threshold'))}", "",
             f"Rule:       {rule['id']} ({rule['kind']}, severity {rule['severity']})",
             f"Query:      {rule['query']}"]
    if group is not None:
        lines.append(f"Group:      {rule.get('group_by') or 'group'} = {group}")
    lines += [f"Value:      {_fmt(alert.get('value'))}",
              f"Threshold:  {_fmt(alert.get('threshold'))}",
              f"Window:     {iso(start_ms)} to {iso(end_ms)}",
              f"Fired at:   {alert.get('fired_at') or '-'}"]
    if kind == "resolved":
        lines.append(f"Resolved:   {alert.get('resolved_at') or payload['moment']}")
    if alert.get("acknowledged_by"):
        lines.append(f"Acknowledged by: {alert['acknowledged_by']}")
    lines += ["", f"Sample events ({len(samples)}, newest first):" if samples else "Sample events: none"]
    lines += ["  " + _line(e) for e in samples]
    if note:
        lines.append(f"  ({note})")
    lines += ["", f"Open the search: {url}", f"Alert #{alert['id']} — Platform Logs"]
    sent_at = iso(sent_at_ms if sent_at_ms is not None else now_ms())
    body = {"event": kind, "title": title, "moment": payload["moment"], "sent_at": sent_at,
            "delivery": {"id": delivery_id, "attempt": attempt}, "rule": rule,
            "alert": {**alert, "value": _finite(alert.get("value")), "threshold": _finite(alert.get("threshold"))},
            "evidence": {"sample_ids": evidence.get("sample_ids", []), "samples": samples, "search_query": query,
                         "search_url": url, "from": iso(start_ms), "to": iso(end_ms), "note": note}}
    return Message(kind=kind, title=title, text="\n".join(lines), body=body, search_url=url, samples=samples)


# -- the notifiers: one method each, raising DeliveryError ----------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):   # a signed POST is never re-sent elsewhere
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: bytes, headers: dict, timeout: float = TIMEOUT_S) -> int:
    """POST `body`; the status on 2xx, else DeliveryError (retryable for 408/425/429/5xx and for
    network failures)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {url[:100]}", retryable=False)
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "platform-logs-alerts",
                                              **headers})
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
        hint = " (redirects are not followed)" if 300 <= code < 400 else ""
        raise DeliveryError(f"HTTP {code} {exc.reason}{hint}",
                            retryable=code in (408, 425, 429) or code >= 500) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:   # refused, DNS, timeout, reset
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        where = parts.hostname + (f":{parts.port}" if parts.port else "")
        raise DeliveryError(f"cannot reach {where}: {reason}", retryable=True) from None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def send(self, destination: Destination, message: Message) -> None:
        body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":"), default=str,
                          allow_nan=False).encode()
        headers = {"X-Platlogs-Event": message.kind, "X-Platlogs-Delivery": str(message.body["delivery"]["id"])}
        if destination.secret:
            headers[SIGNATURE_HEADER] = sign(destination.secret, body)
        post_json(destination.target, body, headers)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict:
    body, alert, rule = message.body, message.body["alert"], message.body["rule"]
    fields = [("Rule", f"{rule['name']} (`{rule['id']}`)"), ("Severity", rule["severity"]),
              ("Value", _fmt(alert.get("value"))), ("Threshold", _fmt(alert.get("threshold")))]
    if alert.get("group") is not None:
        fields.append(("Group", f"{rule.get('group_by') or 'group'} = {alert['group']}"))
    fields.append(("Window", f"{body['evidence']['from']} to {body['evidence']['to']}"))
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(alert.get("detail") or message.title)[:2900]},
         "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(str(v))[:1900]}"} for k, v in fields]},
    ]
    if message.samples:
        sample_text = "\n".join(_slack_escape(_line(e))[:400] for e in message.samples)
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"*Sample events*\n```{sample_text[:2800]}```"}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{message.search_url}|Open the search>"}})
    return {"text": f"{message.title}: {alert.get('detail') or ''}".strip(": ")[:3000], "blocks": blocks}


class SlackNotifier:
    def send(self, destination: Destination, message: Message) -> None:
        post_json(destination.target, json.dumps(slack_payload(message), ensure_ascii=False).encode(), {})


class EmailNotifier:
    def __init__(self, settings, timeout: float = TIMEOUT_S):
        self.settings, self.timeout = settings, timeout

    def send(self, destination: Destination, message: Message) -> None:
        cfg = self.settings
        if not cfg.smtp_host:
            raise DeliveryError("PLATLOGS_SMTP_HOST is not set: e-mail cannot be sent", retryable=False)
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = cfg.smtp_from
        mail["To"] = destination.target
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=cfg.smtp_from.rpartition("@")[2])
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-Platlogs-Alert"] = str(message.body["alert"]["id"])
        mail.set_content(message.text)
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=self.timeout) as smtp:
                if cfg.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.smtp_user:
                    smtp.login(cfg.smtp_user, cfg.smtp_password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP refused every recipient: {exc.recipients}",
                                retryable=any(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {exc}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"SMTP {exc.smtp_code} {text}", retryable=not 500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:   # refused, disconnected, timeout, TLS
            raise DeliveryError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {exc}", retryable=True) from None


def notifiers_for(settings) -> dict:
    return {"webhook": WebhookNotifier(), "slack": SlackNotifier(), "email": EmailNotifier(settings)}


# -- the delivery queue ------------------------------------------------------------------------------

@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _due(at):
    return or_(and_(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= at),
               and_(AlertDelivery.status == "sending", AlertDelivery.lease_until <= at))


def claim_due(alerts: Alerts, at_ms: int, claimed_by: str, limit: int = 100, lease_s: int = LEASE_S) -> list[AlertDelivery]:
    """Due deliveries, each claimed by one conditional UPDATE (the attempt is counted now)."""
    at = to_dt(at_ms)
    earlier = aliased(AlertDelivery)
    blocked = exists().where(earlier.instance_id == AlertDelivery.instance_id,
                             earlier.destination == AlertDelivery.destination, earlier.id < AlertDelivery.id,
                             earlier.status.in_(("pending", "sending")))
    with alerts.Session() as s:
        ids = s.scalars(select(AlertDelivery.id).where(_due(at), ~blocked)
                        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id).limit(limit)).all()
    claimed = []
    for delivery_id in ids:
        with alerts.Session() as s:
            won = s.execute(update(AlertDelivery).where(AlertDelivery.id == delivery_id, _due(at))
                            .values(status="sending", lease_until=at + timedelta(seconds=lease_s),
                                    claimed_by=claimed_by[:128], attempts=AlertDelivery.attempts + 1)
                            .execution_options(synchronize_session=False)).rowcount
            s.commit()
            if won:
                claimed.append(s.get(AlertDelivery, delivery_id))
    return claimed


def _record(alerts: Alerts, delivery: AlertDelivery, at_ms: int, error: DeliveryError | None, *,
            max_attempts: int, base_s: int, max_s: int) -> str:
    """Write the outcome of one attempt: "sent", "retrying" or "failed"."""
    at = to_dt(at_ms)
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


def deliver_due(alerts: Alerts, store, settings, at_ms: int, *, claimed_by: str = SCHEDULER,
                notifiers: dict | None = None, limit: int = 100, max_attempts: int = MAX_ATTEMPTS,
                backoff_base_s: int = BACKOFF_BASE_S, backoff_max_s: int = BACKOFF_MAX_S) -> DeliveryReport:
    """Send every delivery due at `at_ms` and record each outcome (see the module's docstring)."""
    notifiers = notifiers if notifiers is not None else notifiers_for(settings)
    report = DeliveryReport()
    handled = 0
    while handled < limit:   # rounds: a delivery sent may let the next one to its destination go
        batch = claim_due(alerts, at_ms, claimed_by, limit - handled)
        if not batch:
            break
        handled += len(batch)
        for delivery in batch:
            _deliver(alerts, store, settings, at_ms, delivery, notifiers, report, max_attempts=max_attempts,
                     base_s=backoff_base_s, max_s=backoff_max_s)
    return report


def _deliver(alerts: Alerts, store, settings, at_ms: int, delivery: AlertDelivery, notifiers: dict,
             report: DeliveryReport, **backoff) -> None:
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
        message = build_message(payload, samples, settings.base_url, delivery_id=delivery.id,
                                attempt=delivery.attempts, sent_at_ms=at_ms, note=note)
        try:
            notifier.send(target, message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:   # a bug or an odd failure: retried, and reported
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
