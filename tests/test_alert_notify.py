"""Alert notifications against real receivers started here: an HTTP server that checks the
webhook's HMAC signature (and takes Slack-style payloads), an SMTP server (aiosmtpd) that takes
the e-mail. Retries and permanent failures are driven by the time passed in — nobody sleeps."""
from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.alerts.notifiers import slack_payload
from app.alerts.notify import (
    DeliveryError,
    backoff_s,
    build_message,
    delete_destination,
    deliver_due,
    destinations,
    save_destination,
)
from app.config import ConfigError, Settings
from app.meta.alert_tables import iso, to_dt

SEC = 1000
MIN = 60 * SEC
T0 = 29_833_333 * MIN
SEARCH = 'event.type:login AND event.outcome:failure AND actor.id:"p-1"'
RULE = Rule(id="failed-logins", name="Failed logins per player", kind="threshold",
            query="event.type:login AND event.outcome:failure", window_s=300, threshold=20, group_by="actor.id",
            notify=("ops",), severity="critical")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the receivers -----------------------------------------------------------------------------------

@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool | None

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server. Answers `statuses` in turn (the last one repeats); with a `secret` it
    checks X-Platlogs-Signature and answers 401 to a request whose signature is wrong."""

    def __init__(self, statuses, secret: str | None = None):
        self.statuses, self.secret, self.requests = list(statuses), secret, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = None
                if outer.secret is not None:
                    expected = "sha256=" + hmac.new(outer.secret.encode(), body, hashlib.sha256).hexdigest()
                    ok = hmac.compare_digest(expected, self.headers.get("X-Platlogs-Signature", ""))
                outer.requests.append(Received(self.path, dict(self.headers), body, ok))
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                if ok is False:
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses, secret=None):
        made.append(Receiver(statuses or (200,), secret))
        return made[-1]
    yield make
    for r in made:
        r.close()


class Mailbox:
    """aiosmtpd handler: keeps every message; refuses recipients nobody@…"""

    def __init__(self):
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)
                for e in self.envelopes]


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def env(tmp_path, mailbox):   # the app's settings (overrides conftest's): the test SMTP server, a base URL
    return {"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_SMTP_HOST": "127.0.0.1",
            "PLATLOGS_SMTP_PORT": str(mailbox.port), "PLATLOGS_SMTP_FROM": "alerts@casino.test",
            "PLATLOGS_BASE_URL": "https://logs.casino.test/back-office/"}


@pytest.fixture
def alerts(services):
    return Alerts(services.meta)


@pytest.fixture
def evidence(services):
    """Three failed logins of player p-1 in the store (with an e-mail address: personal data)."""
    events = [{"@timestamp": iso(T0 - (3 - i) * MIN), "message": f"login failed: bad password (try {i})",
               "log": {"level": "warning"}, "event": {"id": f"ev-{i}", "type": "login", "outcome": "failure"},
               "actor": {"type": "player", "id": "p-1", "email": "jane@example.com"}} for i in (1, 2, 3)]
    report = services.ingestor.ingest(list(enumerate(events)))
    assert report.accepted == 3, report.errors
    return ("ev-3", "ev-2", "ev-1")


def fire(alerts, moment=T0, rule=RULE, samples=("ev-3", "ev-2", "ev-1"), state="alert", search=SEARCH):
    finding = Finding(rule_id=rule.id, group="p-1", state=state, value=27.0 if state == "alert" else 2.0,
                      threshold=20.0, detail="27 events in 5 min (more than 20)" if state == "alert" else "2 events",
                      sample_ids=samples, search_query=search, window_start_ms=moment - 5 * MIN, window_end_ms=moment)
    alerts.apply(rule, Evaluation(rule=rule, now_ms=moment, findings=[finding]), moment)
    return alerts.open_instance(rule.id, "p-1") or alerts.instances(rule.id)[0]


def deliver(alerts, services, at, **kw):
    return deliver_due(alerts, services.store, services.settings, at, claimed_by="test", **kw)


# -- the three kinds ----------------------------------------------------------------------------------

def test_webhook_is_signed_and_carries_the_evidence(alerts, services, receiver, evidence):
    _, secret = save_destination(alerts, "ops", "webhook", "http://placeholder.invalid/", by="admin")
    hook = receiver(200, secret=secret)
    save_destination(alerts, "ops", "webhook", hook.url, secret=secret, by="admin")
    inst = fire(alerts)
    report = deliver(alerts, services, T0 + SEC)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [request] = hook.requests
    assert request.signature_ok is True and request.path == "/hooks/alerts"
    assert request.headers["Content-Type"] == "application/json" and request.headers["X-Platlogs-Event"] == "firing"
    body = request.json
    assert body["event"] == "firing" and body["title"] == "[FIRING] Failed logins per player — actor.id=p-1"
    assert body["rule"]["id"] == "failed-logins" and body["rule"]["severity"] == "critical"
    assert body["alert"]["id"] == inst.id and body["alert"]["group"] == "p-1"
    assert body["alert"]["value"] == 27.0 and body["alert"]["threshold"] == 20.0
    assert body["alert"]["fired_at"] == iso(T0) and body["sent_at"] == iso(T0 + SEC)
    samples = body["evidence"]["samples"]
    assert [s["event"]["id"] for s in samples] == ["ev-3", "ev-2", "ev-1"]
    assert samples[0]["message"] == "login failed: bad password (try 3)"
    assert samples[0]["actor"]["email"] == "j***@example.com"          # personal data leaves masked
    link = urlsplit(body["evidence"]["search_url"])
    assert (link.scheme, link.netloc, link.path) == ("https", "logs.casino.test", "/back-office/")
    assert parse_qs(link.query) == {"q": [SEARCH], "from": [iso(T0 - 5 * MIN)], "to": [iso(T0)]}
    [delivery] = alerts.deliveries(inst.id)
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.sent_at == to_dt(T0 + SEC)
    # nothing is sent twice
    assert deliver(alerts, services, T0 + 10 * MIN).sent == 0 and len(hook.requests) == 1


def test_a_wrong_secret_fails_the_receivers_check(alerts, services, receiver, evidence):
    hook = receiver(200, secret="the receiver's secret")
    save_destination(alerts, "ops", "webhook", hook.url, secret="another secret", by="admin")
    inst = fire(alerts)
    report = deliver(alerts, services, T0)
    assert report.failed == 1 and hook.requests[0].signature_ok is False
    assert alerts.instance(inst.id).last_delivery_error == "ops: HTTP 401 Unauthorized (permanent)"


def test_slack_incoming_webhook_payload(alerts, services, receiver, evidence):
    hook = receiver(200)
    save_destination(alerts, "ops", "slack", hook.url, by="admin")
    fire(alerts)
    assert deliver(alerts, services, T0).sent == 1
    [request] = hook.requests
    assert "X-Platlogs-Signature" not in request.headers
    body = request.json
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[FIRING] Failed logins per player — actor.id=p-1: 27 events")
    text = json.dumps(body["blocks"])
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text",
                                                            "text": "[FIRING] Failed logins per player — actor.id=p-1"}}
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in body["blocks"][1]["fields"]}
    assert fields["*Value*"] == "27" and fields["*Threshold*"] == "20" and fields["*Group*"] == "actor.id = p-1"
    assert "login failed: bad password (try 3)" in text and "jane@example.com" not in text
    link = body["blocks"][-1]["text"]["text"]
    assert link.startswith("<https://logs.casino.test/back-office/?q=") and link.endswith("|Open the search>")


def test_email_over_smtp(alerts, services, mailbox, evidence):
    save_destination(alerts, "ops", "email", "oncall@casino.test, security@casino.test", by="admin")
    inst = fire(alerts)
    assert deliver(alerts, services, T0).sent == 1
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "alerts@casino.test"
    assert envelope.rcpt_tos == ["oncall@casino.test", "security@casino.test"]
    [message] = mailbox.messages()
    assert message["Subject"] == "[FIRING] Failed logins per player — actor.id=p-1"
    assert message["X-Platlogs-Alert"] == str(inst.id) and message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "27 events in 5 min (more than 20)" in body
    assert "Value:      27" in body and "Threshold:  20" in body and "Group:      actor.id = p-1" in body
    assert "Sample events (3, newest first):" in body and body.count("login failed: bad password") == 3
    assert "jane@example.com" not in body
    url = next(line for line in body.splitlines() if line.startswith("Open the search: ")).split(": ", 1)[1]
    assert parse_qs(urlsplit(url).query) == {"q": [SEARCH], "from": [iso(T0 - 5 * MIN)], "to": [iso(T0)]}


def test_email_refused_by_the_server_is_permanent(alerts, services, mailbox, evidence):
    save_destination(alerts, "ops", "email", "nobody@casino.test", by="admin")
    inst = fire(alerts)
    assert deliver(alerts, services, T0).failed == 1
    assert "550" in alerts.instance(inst.id).last_delivery_error and mailbox.envelopes == []


def test_email_without_an_smtp_relay_is_a_permanent_failure(alerts, services, evidence):
    save_destination(alerts, "ops", "email", "oncall@casino.test", by="admin")
    inst = fire(alerts)
    settings = dataclasses.replace(services.settings, smtp_host=None)
    assert deliver_due(alerts, services.store, settings, T0).failed == 1
    assert "PLATLOGS_SMTP_HOST is not set" in alerts.instance(inst.id).last_delivery_error


def test_the_resolution_goes_to_the_same_destination_once(alerts, services, receiver, evidence):
    hook = receiver(200)
    save_destination(alerts, "ops", "slack", hook.url, by="admin")
    fire(alerts)
    deliver(alerts, services, T0)
    fire(alerts, T0 + MIN, state="ok")
    fire(alerts, T0 + 2 * MIN, state="ok")
    deliver(alerts, services, T0 + 2 * MIN)
    assert [r.json["text"].split("]")[0] for r in hook.requests] == ["[FIRING", "[RESOLVED"]


# -- retries and permanent failures ----------------------------------------------------------------

def test_retry_with_backoff_until_delivered(alerts, services, receiver, evidence):
    hook = receiver(500, 500, 200, secret="s3cret")
    save_destination(alerts, "ops", "webhook", hook.url, secret="s3cret", by="admin")
    inst = fire(alerts)
    first = deliver(alerts, services, T0)
    assert (first.sent, first.retrying) == (0, 1) and "HTTP 500" in first.errors[0]
    [delivery] = alerts.deliveries(inst.id)
    assert delivery.status == "pending" and delivery.next_attempt_at == to_dt(T0 + backoff_s(1) * SEC)
    assert backoff_s(1) == 30 and backoff_s(2) == 60 and backoff_s(3) == 120 and backoff_s(30) == 3600
    assert deliver(alerts, services, T0 + 29 * SEC).retrying == 0 and len(hook.requests) == 1   # not due yet
    assert deliver(alerts, services, T0 + 30 * SEC).retrying == 1
    assert alerts.deliveries(inst.id)[0].next_attempt_at == to_dt(T0 + 90 * SEC)
    assert deliver(alerts, services, T0 + 89 * SEC).sent == 0
    assert deliver(alerts, services, T0 + 90 * SEC).sent == 1
    assert [r.json["delivery"]["attempt"] for r in hook.requests] == [1, 2, 3]
    assert all(r.signature_ok for r in hook.requests)
    [delivery] = alerts.deliveries(inst.id)
    assert delivery.status == "sent" and delivery.attempts == 3 and delivery.last_error is None
    assert alerts.instance(inst.id).last_delivery_error is None
    assert "delivery_failed" not in [h.action for h in alerts.history(instance_id=inst.id)]


def test_a_400_is_a_permanent_failure_shown_on_the_alert(alerts, services, receiver, evidence):
    hook = receiver(400)
    save_destination(alerts, "ops", "webhook", hook.url, by="admin")
    inst = fire(alerts)
    report = deliver(alerts, services, T0)
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    inst = alerts.instance(inst.id)
    assert inst.last_delivery_error == "ops: HTTP 400 Bad Request (permanent)"
    entry = alerts.history(instance_id=inst.id)[0]
    assert (entry.action, entry.actor) == ("delivery_failed", "scheduler") and "HTTP 400" in entry.comment
    assert alerts.deliveries(inst.id)[0].status == "failed"
    deliver(alerts, services, T0 + 24 * 60 * MIN)
    assert len(hook.requests) == 1


def test_a_closed_port_is_retried_then_recorded_as_failed(alerts, services, evidence):
    save_destination(alerts, "ops", "webhook", f"http://127.0.0.1:{free_port()}/hook", by="admin")
    inst = fire(alerts)
    at = T0
    for attempt in (1, 2):
        assert deliver(alerts, services, at, max_attempts=3).retrying == 1
        assert alerts.instance(inst.id).last_delivery_error is None
        at += backoff_s(attempt) * SEC
    assert deliver(alerts, services, at, max_attempts=3).failed == 1
    error = alerts.instance(inst.id).last_delivery_error
    assert error.startswith("ops: cannot reach 127.0.0.1") and error.endswith("(after 3 attempts)")
    [delivery] = alerts.deliveries(inst.id)
    assert (delivery.status, delivery.attempts) == ("failed", 3)


def test_a_resolution_waits_for_its_firing_notification(alerts, services, receiver, evidence):
    hook = receiver(503, 200)
    save_destination(alerts, "ops", "webhook", hook.url, by="admin")
    fire(alerts)
    deliver(alerts, services, T0)                         # 503: retried at T0 + 30 s
    fire(alerts, T0 + 10 * SEC, state="ok")              # resolved meanwhile
    assert deliver(alerts, services, T0 + 10 * SEC).sent == 0
    assert deliver(alerts, services, T0 + 30 * SEC).sent == 2        # the firing, then the resolution
    assert [r.json["event"] for r in hook.requests] == ["firing", "firing", "resolved"]


def test_an_unknown_destination_is_a_permanent_failure(alerts, services, evidence):
    inst = fire(alerts)
    assert deliver(alerts, services, T0).failed == 1
    assert alerts.instance(inst.id).last_delivery_error == "ops: no destination named 'ops' (permanent)"


def test_an_unexpected_notifier_error_is_retried(alerts, services, evidence):
    class Broken:
        def send(self, destination, message):
            raise RuntimeError("boom")
    save_destination(alerts, "ops", "slack", "https://hooks.example.test/x", by="admin")
    fire(alerts)
    report = deliver(alerts, services, T0, notifiers={"slack": Broken()})
    assert report.retrying == 1 and "RuntimeError: boom" in report.errors[0]


# -- destinations, messages, settings -------------------------------------------------------------

def test_destinations_are_validated_and_recorded(alerts):
    row, secret = save_destination(alerts, "sec-hook", "webhook", "https://siem.casino.test/in", by="admin")
    assert secret and row.secret == secret and "secret" not in row.as_dict()
    _, again = save_destination(alerts, "sec-hook", "webhook", "https://siem.casino.test/in2", secret="mine", by="admin")
    assert again is None and destinations(alerts)[0].secret == "mine"
    save_destination(alerts, "chat", "slack", "https://hooks.slack.test/services/T0/B0/SECRETPATH", by="admin")
    for args, message in [(("Bad Name", "webhook", "https://x.test/"), "name"),
                          (("x", "pager", "https://x.test/"), "kind"),
                          (("x", "webhook", "file:///etc/passwd"), "http"),
                          (("x", "email", "oncall@casino.test, not-an-address"), "not-an-address")]:
        with pytest.raises(ValueError, match=message):
            save_destination(alerts, *args, by="admin")
    comments = [h.comment for h in alerts.history() if h.action.startswith("destination")]
    assert not any("SECRETPATH" in c for c in comments)          # a Slack URL is itself a secret
    assert delete_destination(alerts, "chat", by="admin") and not delete_destination(alerts, "chat", by="admin")
    assert [d.name for d in destinations(alerts)] == ["sec-hook"]


def test_message_without_a_search_query_builds_one_from_the_rule_and_group():
    payload = {"event": "firing", "moment": iso(T0),
               "rule": {"id": "r", "name": "R", "kind": "spike", "severity": "warning", "query": "log.level:error",
                        "window_s": 600, "group_by": "service.name", "description": ""},
               "alert": {"id": 1, "group": 'say "hi"', "state": "firing", "value": float("inf"), "threshold": 2.0,
                         "detail": "", "fired_at": iso(T0)},
               "evidence": {"sample_ids": [], "search_query": "", "window_start_ms": None, "window_end_ms": None}}
    message = build_message(payload, [], "http://logs.test")
    query = parse_qs(urlsplit(message.search_url).query)
    assert query == {"q": ['(log.level:error) AND service.name:"say \\"hi\\""'], "from": [iso(T0 - 600 * SEC)],
                     "to": [iso(T0)]}
    assert message.body["alert"]["value"] is None and "Sample events: none" in message.text
    json.dumps(message.body, allow_nan=False)
    assert slack_payload(message)["text"].startswith("[FIRING] R")


def test_delivery_error_says_whether_a_retry_can_help():
    assert DeliveryError("x", retryable=True).retryable and not DeliveryError("x", retryable=False).retryable


def test_notification_settings(tmp_path):
    base = {"PLATLOGS_DATA_DIR": str(tmp_path)}
    (tmp_path / "smtp-password").write_text("pa55word\n")
    settings = Settings.from_env({**base, "PLATLOGS_SMTP_HOST": "mail.casino.test", "PLATLOGS_SMTP_PORT": "587",
                                   "PLATLOGS_SMTP_USER": "alerts", "PLATLOGS_SMTP_STARTTLS": "true",
                                   "PLATLOGS_SMTP_PASSWORD_FILE": str(tmp_path / "smtp-password"),
                                   "PLATLOGS_SMTP_FROM": "alerts@casino.test",
                                   "PLATLOGS_BASE_URL": "https://logs.casino.test/"})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password) == (
        "mail.casino.test", 587, "alerts", "pa55word")
    assert settings.smtp_starttls and settings.smtp_from == "alerts@casino.test"
    assert settings.base_url == "https://logs.casino.test" and "pa55word" not in repr(settings)
    defaults = Settings.from_env(base)
    assert defaults.smtp_host is None and defaults.base_url == "http://127.0.0.1:8080"
    for bad, name in [({"PLATLOGS_SMTP_PORT": "99999"}, "PLATLOGS_SMTP_PORT"),
                      ({"PLATLOGS_SMTP_HOST": "h", "PLATLOGS_SMTP_PASSWORD": "p"}, "PLATLOGS_SMTP_PASSWORD"),
                      ({"PLATLOGS_SMTP_USER": "u"}, "PLATLOGS_SMTP_USER"),
                      ({"PLATLOGS_SMTP_FROM": "alerts"}, "PLATLOGS_SMTP_FROM"),
                      ({"PLATLOGS_SMTP_STARTTLS": "maybe"}, "PLATLOGS_SMTP_STARTTLS"),
                      ({"PLATLOGS_BASE_URL": "logs.casino.test"}, "PLATLOGS_BASE_URL")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({**base, **bad})
