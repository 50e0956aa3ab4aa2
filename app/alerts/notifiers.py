"""The three notifiers, one `send(destination, message)` each, raising DeliveryError (see
notify.py for the queue that retries them): `webhook` (a JSON POST signed with HMAC-SHA256 over
the raw body with the destination's secret, header `X-Platlogs-Signature: sha256=<hex>`; redirects
are not followed), `email` (SMTP through PLATLOGS_SMTP_*) and `slack` (a Slack-compatible incoming
webhook: `{"text", "blocks"}`). Which failures are worth retrying is decided here."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from ..meta.alert_tables import Destination
from .messages import Message, _fmt, _line

SIGNATURE_HEADER = "X-Platlogs-Signature"
TIMEOUT_S = 10


class DeliveryError(Exception):
    """A notification was not delivered; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # a signed POST is never re-sent elsewhere
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: bytes, headers: dict, timeout: float = TIMEOUT_S) -> int:
    """POST `body`; the status on 2xx, else DeliveryError (retryable for 408/425/429/5xx and for
    network failures)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {url[:100]}", retryable=False)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "platform-logs-alerts", **headers},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
        hint = " (redirects are not followed)" if 300 <= code < 400 else ""
        raise DeliveryError(f"HTTP {code} {exc.reason}{hint}", retryable=code in (408, 425, 429) or code >= 500) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused, DNS, timeout, reset
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        where = parts.hostname + (f":{parts.port}" if parts.port else "")
        raise DeliveryError(f"cannot reach {where}: {reason}", retryable=True) from None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def send(self, destination: Destination, message: Message) -> None:
        body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False).encode()
        headers = {"X-Platlogs-Event": message.kind, "X-Platlogs-Delivery": str(message.body["delivery"]["id"])}
        if destination.secret:
            headers[SIGNATURE_HEADER] = sign(destination.secret, body)
        post_json(destination.target, body, headers)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict:
    body, alert, rule = message.body, message.body["alert"], message.body["rule"]
    fields = [
        ("Rule", f"{rule['name']} (`{rule['id']}`)"),
        ("Severity", rule["severity"]),
        ("Value", _fmt(alert.get("value"))),
        ("Threshold", _fmt(alert.get("threshold"))),
    ]
    if alert.get("group") is not None:
        fields.append(("Group", f"{rule.get('group_by') or 'group'} = {alert['group']}"))
    fields.append(("Window", f"{body['evidence']['from']} to {body['evidence']['to']}"))
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _slack_escape(alert.get("detail") or message.title)[:2900]},
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(str(v))[:1900]}"} for k, v in fields],
        },
    ]
    if message.samples:
        sample_text = "\n".join(_slack_escape(_line(e))[:400] for e in message.samples)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Sample events*\n```{sample_text[:2800]}```"}}
        )
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
            raise DeliveryError(
                f"SMTP refused every recipient: {exc.recipients}", retryable=any(400 <= c < 500 for c in codes)
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {exc}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"SMTP {exc.smtp_code} {text}", retryable=not 500 <= exc.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, disconnected, timeout, TLS
            raise DeliveryError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {exc}", retryable=True) from None


def notifiers_for(settings) -> dict:
    return {"webhook": WebhookNotifier(), "slack": SlackNotifier(), "email": EmailNotifier(settings)}
