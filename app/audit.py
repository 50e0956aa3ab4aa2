"""The back office records what its own users do, as events in the store like any other:
reading (searches, event views, reveals, exports: type `access`) and administration (users and
roles: type `permission_change`, with before/after values). Component `admin_action`, service
`platform-logs`. Events of type `access` go to the reading trail's own stream (services.trail),
shown only to roles with `reading_trail`; the others to the event store with everything else.

`write` is the core and needs no Flask: who acted and from where are arguments (services such as
app/meta/accounts.py and the command line call it). `record` is its adapter for a request."""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket

from .errors import ApiError
from .storage import StoreError

log = logging.getLogger(__name__)

SERVICE = {"name": "platform-logs"}
# what the event store refuses in a string (C0 controls but tab, LF, CR; DEL) and the C1 controls:
# written into the trail visibly escaped, so that every query the search takes is recorded as read
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class NotRecorded(ApiError):
    """A read whose reading-trail record was not stored: it is not answered (503)."""

    def __init__(self, reason: str):
        super().__init__(
            503, f"the read was not recorded in the reading trail, so it is not answered (retry later): {reason}"
        )


def visible(text: str) -> str:
    """`text` with control characters written as \\uXXXX: the trail takes every query."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def actor() -> dict:
    """Who is acting in this request: an employee (signed in) or a service (API key)."""
    from flask import g
    from flask_login import current_user

    key = getattr(g, "api_key", None)
    if key is not None:
        return {"type": "service", "id": f"api-key-{key.id}", "name": key.name}
    if current_user.is_authenticated:
        return {"type": "employee", "id": current_user.username, "name": current_user.username, "roles": [current_user.role]}
    return {"type": "anonymous", "id": "anonymous"}


def request_source() -> dict | None:
    """Where the current request came from ({"ip": …}), or None outside a request (a streamed
    response's end) or when the server was not told."""
    from flask import has_request_context, request

    if has_request_context() and request.remote_addr:
        return {"ip": request.remote_addr}
    return None


def operator() -> dict:
    """The command line's actor: the operating-system account that ran `platlogs` on this host
    (docs/security.md, "What is recorded"). Type `service` (the schema's actor types have no
    operator); the id says it was the command line and who ran it."""
    user = _os_user()
    return {"type": "service", "id": f"cli:{user}", "name": f"{user} (platlogs command line)"}


def host_source() -> dict:
    """The command line's source: the host it ran on (source.domain)."""
    return {"domain": socket.gethostname()[:255] or "localhost"}


def _os_user() -> str:
    """The account of the process's real user id (not $USER, which anyone sets), its uid when the
    system has no name for it (a container's arbitrary user)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name[:64] or f"uid-{os.getuid()}"
    except ImportError:  # not a POSIX system
        return getpass.getuser()[:64] or "unknown"
    except KeyError:
        return f"uid-{os.getuid()}"


def write(
    services,
    actor: dict,
    source: dict | None,
    action: str,
    message: str,
    *,
    event_type: str = "access",
    outcome: str = "success",
    labels: dict | None = None,
    target: dict | None = None,
    changes: list | None = None,
    required: bool = False,
) -> None:
    """Store one event about what `actor` did, from `source` ({"ip": …} for a request,
    {"domain": host} for the command line; None: unknown). Needs no Flask: pages (through
    `record`), services and the command line call it alike. A store that cannot take it is
    reported in the log — or, with `required` (reads: fail closed), raises NotRecorded (503)."""
    who = {k: visible(v) if isinstance(v, str) else v for k, v in actor.items()}
    event = {
        "message": visible(message),
        "service": SERVICE,
        "actor": who,
        "event": {"component": "admin_action", "type": event_type, "action": action, "outcome": outcome},
    }
    if source:
        event["source"] = dict(source)
    if labels:
        event["labels"] = {k: visible(str(v))[:1024] for k, v in labels.items() if v is not None}
    if target:
        event["target"] = target
    if changes:
        event["changes"] = changes
    ingestor = services.trail_ingestor if event_type == "access" else services.ingestor
    try:
        report = ingestor.ingest([(0, event)])
    except StoreError as exc:
        if required:
            raise NotRecorded(f"the trail's store cannot answer: {exc}") from None
        raise
    if report.rejected or report.accepted < 1:
        log.error("audit event not stored: %s", report.errors)
        if required:
            reasons = "; ".join(str(e.get("reason", e)) for e in report.errors[:3]) or "not stored"
            raise NotRecorded(reasons)


def record(
    action: str,
    message: str,
    *,
    event_type: str = "access",
    outcome: str = "success",
    labels: dict | None = None,
    target: dict | None = None,
    changes: list | None = None,
    who: dict | None = None,
    services=None,
    required: bool = False,
) -> None:
    """`write` for a page or API route: the actor (`who`, else the signed-in employee or the
    API key) and the source address come from the current request."""
    from flask import current_app

    write(
        services or current_app.extensions["platlogs"],
        who or actor(),
        request_source(),
        action,
        message,
        event_type=event_type,
        outcome=outcome,
        labels=labels,
        target=target,
        changes=changes,
        required=required,
    )
