"""The provider registry: every provider that has called or been called, discovered from the
`integration` events with no set-up (name, kind, first and last seen), joined with what people
said about it in the meta DB (app/meta/providers.py)."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field, replace

from ..query import parse
from ..query.quoting import term
from ..storage import SearchRequest
from .rows import SCAN_QUERY, _ts_ms

KIND_GROUPS = {
    "game": "Game",
    "payment": "Payment",
    "kyc": "KYC",
    "sms": "Messaging",
    "email": "Messaging",
    "other": "Other",
}
GROUP_ORDER = ("Payment", "Game", "KYC", "Messaging", "Other")
MAX_PROVIDERS = 500
DAY_MS = 86_400_000
ROLLUP_DAYS = 90


def kind_group(kind: str | None) -> str:
    return KIND_GROUPS.get(kind or "other", "Other")


@dataclass
class Provider:
    name: str
    kind: str | None
    first_seen_ms: int | None
    last_seen_ms: int | None
    owner: str = ""
    slo_target: float | None = None  # the provider's own, None: the default
    quiet_at_night: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def group(self) -> str:
        return kind_group(self.kind)


def _edge(store, name: str, newest: bool, scope=None) -> dict | None:
    request = SearchRequest(query=parse(term("integration.provider", name)), size=1, newest_first=newest, total_bound=0)
    found = store.search(scope(request) if scope else request)
    return found.hits[0] if found.hits else None


def discover(store, scope=None) -> list[Provider]:
    """Providers in the store (a facet of integration.provider, and the store's rollups of the
    last 90 days when it keeps them), each with its kind (from its newest call) and first/last call."""
    request = SearchRequest(
        query=parse(SCAN_QUERY), size=0, total_bound=0, facets=("integration.provider",), facet_size=MAX_PROVIDERS
    )
    result = store.search(scope(request) if scope else request)
    facet = result.facets.get("integration.provider") if isinstance(result.facets, dict) else None
    names = {v.value for v in (facet.values if facet else []) if isinstance(v.value, str) and v.value}
    rollups = getattr(store, "rollups", None)
    if rollups is not None:  # a facet may run out of time on a big store; the rollups' 90 days do not
        end = (int(time.time() * 1000) // DAY_MS + 1) * DAY_MS
        names |= {
            r.provider
            for r in rollups.providers(end - ROLLUP_DAYS * DAY_MS, end, ROLLUP_DAYS * DAY_MS, latency=False)
            if r.provider and r.calls
        }
    out = []
    for name in sorted(names):
        newest = _edge(store, name, True, scope)
        integ = (newest or {}).get("integration") or {}
        out.append(
            Provider(
                name=name,
                kind=integ.get("kind") if isinstance(integ.get("kind"), str) else None,
                first_seen_ms=_first_seen(store, name, scope),
                last_seen_ms=_ts_ms(newest) if newest else None,
            )
        )
    return out


# store -> {(scope, provider): (its oldest call's time, when read)}. The oldest-first read of all
# time costs ~8 ms a provider on 5 M events (the newest ~1 ms), and a provider's first call rarely
# changes (a backfill of older calls, retention): read again after FIRST_SEEN_TTL_S. Kept per
# scope (the web's reading.scoped is one function for every reader): what a scope lets a reader
# match is the scope's business, not this cache's.
_FIRST_SEEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
FIRST_SEEN_TTL_S = 600


def _first_seen(store, name: str, scope=None) -> int | None:
    try:
        known = _FIRST_SEEN.setdefault(store, {})
    except TypeError:  # a store that cannot be weakly referenced: not cached
        known = {}
    hit = known.get((scope, name))
    now = time.monotonic()
    if hit is None or now - hit[1] > FIRST_SEEN_TTL_S:
        oldest = _edge(store, name, False, scope)
        hit = known[(scope, name)] = (_ts_ms(oldest) if oldest else None, now)
    return hit[0]


def annotated(providers: list[Provider], notes: dict) -> list[Provider]:
    """`providers` with their notes (a dict provider -> ProviderNote)."""
    out = []
    for p in providers:
        note = notes.get(p.name)
        out.append(
            p
            if note is None
            else replace(p, owner=note.owner, slo_target=note.slo_target, quiet_at_night=note.quiet_at_night, note=note.note)
        )
    return out
