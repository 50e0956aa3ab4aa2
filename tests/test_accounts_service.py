"""The audit core without Flask (app/audit.py `write`), and the account service
(app/meta/accounts.py) that the pages and the command line share.

Real services (SQLite meta DB, embedded store); the page's events are compared with the command
line's, which must be the same apart from who acted and from where."""
from __future__ import annotations

import os
import pwd

import pytest

from app import audit
from app.query import parse
from app.storage.base import SearchRequest


pytestmark = pytest.mark.usefixtures("cheap_hashes")   # see tests/conftest.py


def events(services, query: str, store=None) -> list[dict]:
    store = store or services.store
    return sorted(store.search(SearchRequest(query=parse(query), size=200)).hits, key=lambda e: e["@timestamp"])


# -- audit.write: no request needed ----------------------------------------------------------------

def test_write_needs_no_request_and_takes_actor_and_source(services):
    actor = {"type": "service", "id": "cli:ops", "name": "ops (platlogs command line)"}
    audit.write(services, actor, {"domain": "bastion-1"}, "api_key_created", "cli:ops created API key 7",
                event_type="permission_change", target={"type": "api_key", "id": "7", "name": "k"},
                changes=[{"field": "scopes", "old": None, "new": ["read"]}])
    [event] = events(services, "event.action:api_key_created")
    assert event["actor"]["id"] == "cli:ops" and event["source"] == {"domain": "bastion-1"}
    assert event["event"]["component"] == "admin_action" and event["event"]["type"] == "permission_change"
    audit.write(services, actor, None, "search", "cli:ops searched", labels={"q": "a\x07b"})
    [read] = events(services, "event.action:search", store=services.trail)   # reads: the trail's own stream
    assert "source" not in read and read["labels"]["q"] == "a\\u0007b"


def test_the_operator_is_the_os_account_on_this_host(monkeypatch):
    """The account of the real user id, whatever $USER or $LOGNAME say; the host's name."""
    account = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    monkeypatch.setattr("socket.gethostname", lambda: "bastion-1")
    assert audit.operator() == {"type": "service", "id": f"cli:{account}", "name": f"{account} (platlogs command line)"}
    assert audit.host_source() == {"domain": "bastion-1"}


def test_record_takes_actor_and_address_from_the_request(app, services):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "192.0.2.44"}):
        audit.record("thing_done", "something", event_type="permission_change", services=services,
                     who={"type": "employee", "id": "root", "name": "root"})
    [event] = events(services, "event.action:thing_done")
    assert event["source"] == {"ip": "192.0.2.44"} and event["actor"]["id"] == "root"
