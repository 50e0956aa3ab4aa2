"""The status tracker: run by the alert scheduler every tick (app/alerts/scheduler.py), it works
out every provider's status now and, when it differs from the last one recorded in the meta DB,
writes an event through the normal ingest path — component `integration`, type
`provider_status` — so status changes appear in searches and timelines like any other event.

The event names the provider in `target` and `labels`, never in `integration.provider`: it is
not a call, and the rollups count every event naming a provider as one. A provider seen for the
first time has its status recorded without an event (no burst of changes on a new install)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..events.convert import format_ts
from ..meta.providers import ProviderNotes
from . import compute as C
from .config import Thresholds, thresholds
from .service import MINUTE_MS, WEEK_MS, providers, reader, status_now

EVENT_TYPE = "provider_status"
LEVELS = {C.DOWN: "critical", C.DEGRADED: "warning", C.SILENT: "warning", C.UNKNOWN: "notice", C.UP: "notice"}
KINDS = ("game", "payment", "kyc", "sms", "email", "other")


@dataclass
class Change:
    provider: str
    before: str
    after: str
    at_ms: int
    why: str


@dataclass
class TrackReport:
    providers: int = 0
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def status_event(change: Change, kind: str | None) -> dict:
    healthy = change.after == C.UP
    event = {
        "@timestamp": format_ts(change.at_ms),
        "message": f"{change.provider} is {change.after} (was {change.before}): {change.why}",
        "log": {"level": LEVELS.get(change.after, "notice")},
        "event": {
            "component": "integration",
            "type": EVENT_TYPE,
            "action": f"provider_{change.after}",
            "outcome": "success" if healthy else "failure",
        },
        "service": {"name": "platform-logs"},
        "actor": {"type": "service", "id": "integration-health"},
        "target": {"type": "integration", "id": change.provider},
        "labels": {
            "provider": change.provider,
            "health_status": change.after,
            "previous_status": change.before,
            **({"provider_kind": kind} if kind else {}),
        },
    }
    return event


def track(now_ms: int, services, *, t: Thresholds | None = None, read=None, known=None) -> TrackReport:
    """One pass at `now_ms`: every provider's status; each change recorded and written as an event.
    `read` (a RollupReader) and `known` (the providers) default to the store's."""
    t = t or thresholds()
    report = TrackReport()
    if known is None:
        known = providers(services.store, services.meta)
    report.providers = len(known)
    if not known:
        return report
    end = now_ms // MINUTE_MS * MINUTE_MS + MINUTE_MS
    read = read or reader(services.store, now_ms // C.HOUR_MS * C.HOUR_MS - t.baseline_weeks * WEEK_MS, end)
    now = status_now(read, now_ms, t, known, cache=read is getattr(services.store, "rollups", None))
    notes = ProviderNotes(services.meta)
    last = notes.states()
    at = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    events, kinds = [], {p.name: p.kind for p in known}
    for p in known:
        status, why = now[p.name]["status"], now[p.name]["why"]
        before = last.get(p.name)
        changed = before is not None and before.status != status
        if before is not None and changed:
            change = Change(p.name, before.status, status, now_ms, why)
            report.changes.append(change)
            events.append(status_event(change, kinds[p.name] if kinds[p.name] in KINDS else None))
        if before is None or changed:  # one write per change, not per tick
            notes.set_state(p.name, status, at, changed)
    if events:
        result = services.ingestor.ingest(list(enumerate(events)))
        if result.rejected:
            report.errors.append(f"status events not stored: {result.errors[:3]}")
    return report
