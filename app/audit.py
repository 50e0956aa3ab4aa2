"""The back office records what its own users do, as events in the store like any other:
reading (searches, event views, reveals, exports: type `access`) and administration (users and
roles: type `permission_change`, with before/after values). Component `admin_action`, service
`platform-logs`. Events of type `access` go to the reading trail's own stream (services.trail),
shown only to roles with `reading_trail`; the others to the event store with everything else."""
from __future__ import annotations

from flask import current_app, g, request
from flask_login import current_user

SERVICE = {"name": "platform-logs"}


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
           who: dict | None = None, services=None) -> None:
    """Store one event about the current user's action (never fails the request: a store that
    cannot take it is reported in the server log)."""
    services = services or current_app.extensions["platlogs"]
    event = {"message": message, "service": SERVICE, "actor": who or actor(),
             "event": {"component": "admin_action", "type": event_type, "action": action, "outcome": outcome}}
    try:
        event["source"] = {"ip": request.remote_addr} if request and request.remote_addr else None
    except RuntimeError:   # outside a request (a streamed response's end)
        pass
    if event.get("source") is None:
        event.pop("source", None)
    if labels:
        event["labels"] = {k: str(v)[:1024] for k, v in labels.items() if v is not None}
    if target:
        event["target"] = target
    if changes:
        event["changes"] = changes
    ingestor = services.trail_ingestor if event_type == "access" else services.ingestor
    report = ingestor.ingest([(0, event)])
    if report.rejected:
        current_app.logger.error("audit event not stored: %s", report.errors)
