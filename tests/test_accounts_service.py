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


# -- the account service without a request ---------------------------------------------------------

def test_sign_in_counts_throttles_and_records_without_a_request(services):
    from app.meta import accounts
    services.meta.create_user("sam", "support", "sam-password-1")
    for _ in range(5):
        assert accounts.sign_in(services, "sam", "wrong", address="192.0.2.7", secret="s") == accounts.SignIn()
    throttled = accounts.sign_in(services, "sam", "sam-password-1", address="192.0.2.7", secret="s")
    assert throttled.user is None and 14 * 60 <= throttled.retry_after <= 15 * 60
    stranger = accounts.sign_in(services, "hunter2-typed-here", "x", address="192.0.2.8", secret="s")
    assert stranger == accounts.SignIn()
    logins = events(services, "event.type:login")
    assert [e["labels"]["reason"] for e in logins] == ["wrong_password"] * 5 + ["rate_limited", "unknown_user"]
    assert all(e["source"]["ip"].startswith("192.0.2.") for e in logins)
    assert "hunter2-typed-here" not in str(logins) and logins[-1]["actor"]["id"].startswith("unknown:")
    reset = accounts.operator()
    _, password = accounts.reset_password(services, reset, services.meta.user_by_name("sam").id)
    accepted = accounts.sign_in(services, "sam", password, address="192.0.2.7", secret="s")
    assert accepted.user is not None and accepted.user.username == "sam"


def test_a_lockout_is_refused_and_not_recorded(services):
    from app.meta import accounts
    root, _ = services.meta.create_user("root", "administrator", "root-password-1")
    me = accounts.Acting(audit.operator(), audit.host_source())
    with pytest.raises(accounts.LockoutError):
        accounts.change_user(services, me, root.id, role="support")
    with pytest.raises(accounts.LockoutError):   # an administrator acting on themselves
        accounts.change_user(services, accounts.Acting({"type": "employee", "id": "root"}, None, root.id),
                             root.id, active=False)
    row, _ = accounts.create_key(services, me, "k", ["read"])
    accounts.revoke_key(services, me, row.id)
    with pytest.raises(accounts.AlreadyDone):
        accounts.revoke_key(services, me, row.id)
    with pytest.raises(LookupError):
        accounts.revoke_key(services, me, 10**30)
    assert [e["event"]["action"] for e in events(services, "event.component:admin_action")] == [
        "api_key_created", "api_key_revoked"]


def test_the_account_pages_leave_writes_and_records_to_the_service():
    """app/web/admin.py and account.py parse, call app/meta/accounts.py and render: they write no
    account state and record no account event themselves (the command line could not share it)."""
    import re
    from pathlib import Path
    web = Path(__file__).parents[1] / "app" / "web"
    writes = re.compile(r"meta(\(\))?\.(create_user|update_user|reset_password|set_password|create_key|revoke_key"
                        r"|end_sessions?|record_login\w*|clear_login_failures|save_search|delete_saved_search)\("
                        r"|audit\.(record|write)\(")
    for name in ("admin.py", "account.py"):
        found = [m.group() for m in writes.finditer((web / name).read_text())]
        assert not found, (name, found)


def test_a_saved_search_is_deleted_by_its_owner_or_by_who_administers_users(services):
    from app.meta import accounts
    olga, _ = services.meta.create_user("olga", "operations", "olga-password-1")
    otto, _ = services.meta.create_user("otto", "operations", "otto-password-1")
    root, _ = services.meta.create_user("root", "administrator", "root-password-1")
    shared = accounts.save_search(services, olga, "payments", "event.category:payment", "now-7d", None, "operations")
    own = accounts.save_search(services, olga, "errors", "log.level:error", None, None, None)
    assert [s.name for s in accounts.saved_searches(services, otto)] == ["payments"]   # shared with his role
    assert accounts.delete_saved_search(services, otto, shared.id) is False            # still not his
    assert accounts.delete_saved_search(services, olga, shared.id) is True
    assert accounts.delete_saved_search(services, root, own.id) is True               # administers users
    assert accounts.saved_searches(services, olga) == []
    with pytest.raises(ValueError):
        accounts.save_search(services, olga, "x", "*", None, None, "no-such-role")
