"""The back office records what its own users do, as events in the store like any other:
reading (searches, event views, reveals, exports: type `access`) and administration (users and
roles: type `permission_change`, with before/after values). Component `admin_action`, service
`platform-logs`. Events of type `access` go to the reading trail's own stream (services.trail),
shown only to roles with `reading_trail`; the others to the event store with everything else."""
from __future__ import annotations

import re

from flask import current_app, g, request
from flask_login import current_user

from .errors import ApiError
from .storage import StoreError

SERVICE = {"name": "platform-logs"}
# what the event store refuses in a string (C0 controls but tab, LF, CR; DEL) and the C1 controls:
# written into the trail visibly escaped, so that every query the search takes is recorded as read
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class NotRecorded(ApiError):
    """A read whose reading-trail record was not stored: it is not answered (503)."""

    def __init__(self, reason: str):
        super().__init__(503, f"the read was not recorded in the reading trail, so it is not answered "
                              f"(retry later): {reason}")


def visible(text: str) -> str:
    """`text` with control characters written as \\uXXXX: the trail takes every query."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def actor() -> dict:
    """Who is acting in this request: an employee (signed in) or a service (API key)."""
    key = getattr(g, "api_key", None)
    if key is not None:
        return {"type": "service", "id": f"api-key-{key.id}", "name": key.name}
    if current_user.is_authenticated:
        return {"type": "employee", "id": current_user.username, "name": current_user.username,
                "roles": [current_user.role]}
    return {"type": "anonymous", "id": "anonymous"}


def record(action: str, message: str, *, event_type: str = "access", outcome: str = "success",
           labels: dict | None = None, target: dict | None = None, changes: list | None = None,
           who: dict | None = None, services=None, required: bool = False) -> None:
    """Store one event about the current user's action. A store that cannot take it is reported
    in the server log — or, with `required` (reads: fail closed), raises NotRecorded (503)."""
    services = services or current_app.extensions["platlogs"]
    who = {k: visible(v) if isinstance(v, str) else v for k, v in (who or actor()).items()}
    event = {"message": visible(message), "service": SERVICE, "actor": who,
             "event": {"component": "admin_action", "type": event_type, "action": action, "outcome": outcome}}
    try:
        event["source"] = {"ip": request.remote_addr} if request and request.remote_addr else None
    except RuntimeError:   # outside a request (a streamed response's end)
        pass
    if event.get("source") is None:
        event.pop("source", None)
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
        current_app.logger.error("audit event not stored: %s", report.errors)
        if required:
            reasons = "; ".join(str(e.get("reason", e)) for e in report.errors[:3]) or "not stored"
            raise NotRecorded(reasons)
