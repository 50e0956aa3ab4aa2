"""The registry follows the store: every error fingerprint found in the store since the last
sync becomes a group (unresolved) or widens its group's first and last seen; a resolved group
with a newer error is reopened as a regression (app/meta/errorgroups.py).

Run by the alert scheduler's tick and by the Errors page when the last sync is older than
STALE_MS. It reads the store as the system (no reader's restrictions) and keeps only the
fingerprint, the times and the title (a template: no values) in the meta database.

Known limit: an error that arrives later than OVERLAP_MS behind its own @timestamp after its
window was synced is not seen by the registry (its counts on the pages, read from the store, are)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from ..events.convert import format_ts
from ..events.fingerprint import title_of
from ..meta import errorgroups as registry
from ..query import parse
from ..query.quoting import term
from ..search.figures import event_ms
from ..storage import LogStore, SearchRequest

FIELD = "error.fingerprint"
OVERLAP_MS = 15 * 60_000  # re-read this much before the last sync (late, slow writers)
FIRST_LOOKBACK_MS = 30 * 86_400_000
STALE_MS = 60_000
MAX_GROUPS = 5_000  # fingerprints read per sync
READ = 2_000  # newest errors read for their times (the rest: one query each)


def _value(event: dict) -> str | None:
    error = event.get("error")
    found = error.get("fingerprint") if isinstance(error, dict) else None
    return found if isinstance(found, str) else None


def _title(event: dict, fingerprinter) -> str:
    found = fingerprinter.fingerprint(event) if fingerprinter is not None else None
    return found.title if found else title_of("", "")


Announce = Callable[[list[dict]], None]
ACTIONS = {"new": "error_group_new", "regression": "error_group_regression"}


def sync(
    store: LogStore, meta, fingerprinter=None, now_ms: int | None = None, announce: Announce | None = None
) -> registry.Observed:
    """Reads [last sync - OVERLAP_MS, now] into the registry; returns the groups created and the
    regressions found. `fingerprinter` (app/events/fingerprint_rules.Fingerprinter) names new groups.
    `announce(events)`, when given, stores one event per new group and per regression (what the
    alert kinds new_error_group and regression count: app/alerts/rules.py)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    state = registry.sync_state(meta)
    if state is None:
        start = now - FIRST_LOOKBACK_MS
    else:
        start = max(now - FIRST_LOOKBACK_MS, int(state.synced_until.timestamp() * 1000) - OVERLAP_MS)
    request = SearchRequest(
        query=parse(f"{FIELD}:*"),
        start_ms=start,
        end_ms=now + 1,
        now_ms=now,
        size=READ,
        facets=(FIELD,),
        facet_size=MAX_GROUPS,
        total_bound=0,
        budget_ms=20_000,
    )
    result = store.search(request)
    facet = result.facets.get(FIELD)
    if facet is None or facet.timed_out:
        return registry.Observed([], [])  # try again next time, from the same point
    newest: dict[str, dict] = {}
    for event in result.hits:
        value = _value(event)
        if value is not None:
            newest.setdefault(value, event)
    values = [str(v.value) for v in facet.values]
    known = registry.by_fingerprints(meta, values)
    seen = []
    for value in values:
        narrowed = replace(request, query=parse(term(FIELD, value)), size=1, facets=(), cursor=None)
        last = newest.get(value) or _one(store, narrowed, newest=True)
        if last is None:
            continue
        first = last if value in known else (_one(store, narrowed, newest=False) or last)
        seen.append(
            registry.Seen(value, _title(last, fingerprinter), registry.utc(event_ms(first)), registry.utc(event_ms(last)))
        )
    observed = registry.observe(meta, seen)
    if len(values) < MAX_GROUPS:  # all read: the next sync starts here
        registry.set_sync_state(meta, registry.utc(now))
    if announce is not None and (observed.new or observed.regressions):
        announce(markers(observed, newest, now))
    return observed


def markers(observed: registry.Observed, newest: dict[str, dict], now_ms: int) -> list[dict]:
    """The events that say a group is new or has regressed: component system, event.action
    error_group_new / error_group_regression at the time of the group's first error (new) or of
    the error that reopened it (regression), target {type error_group, id}, labels error_group
    (the id), fingerprint, error_type; service.name of its newest error. Not errors themselves (no error.* field)."""
    out = []
    for what, groups in (("new", observed.new), ("regression", observed.regressions)):
        for group in groups:
            sample = newest.get(group["fingerprint"]) or {}
            service = (sample.get("service") or {}).get("name") if isinstance(sample.get("service"), dict) else None
            error_type = (sample.get("error") or {}).get("type") if isinstance(sample.get("error"), dict) else None
            words = "New error group" if what == "new" else "Error group regressed (resolved, now seen again):"
            when = group["first_seen"] if what == "new" else group["last_seen"]  # the error that made it so
            event = {
                "@timestamp": when or format_ts(now_ms),
                "message": f"{words} #{group['id']}: {group['title']}",
                "log": {"level": "warning"},
                "event": {"component": "system", "type": "other", "action": ACTIONS[what]},
                "target": {"type": "error_group", "id": str(group["id"])},
                "labels": {
                    "error_group": str(group["id"]),
                    "fingerprint": group["fingerprint"],
                    **({"error_type": error_type} if isinstance(error_type, str) else {}),
                },
            }
            if isinstance(service, str):
                event["service"] = {"name": service}
            out.append(event)
    return out


def _one(store: LogStore, request: SearchRequest, newest: bool) -> dict | None:
    found = store.search(replace(request, newest_first=newest))
    return found.hits[0] if found.hits else None


def sync_if_stale(
    store: LogStore, meta, fingerprinter=None, now_ms: int | None = None, announce: Announce | None = None
) -> None:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    state = registry.sync_state(meta)
    if state is None or (now - int(state.synced_at.timestamp() * 1000)) >= STALE_MS:
        sync(store, meta, fingerprinter, now, announce)


def sync_services(services, now_ms: int | None = None) -> registry.Observed:
    """A sync with the app's own parts (the scheduler's tick, `platlogs` commands)."""
    ingestor = services.ingestor
    return sync(
        services.store,
        services.meta,
        getattr(ingestor.normalizer, "fingerprinter", None),
        now_ms,
        announce=lambda events: ingestor.ingest([(i, e) for i, e in enumerate(events)]),
    )
