"""Integration health over 30 days equals a brute-force computation over the raw events, on every
backend: calls, failures, timeouts, answers by code, latency p50/p95/p99 (the sketch of the raw
durations, within its 1 % of the exact percentile), incidents and uptime. Where the store keeps
rollups they are what the service reads, and they give the rows the raw events give."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.events.failures import INTEGRATION_FAILURE_STATUSES
from app.integrations import compute as C
from app.integrations import service, sketch
from app.integrations.config import thresholds
from app.integrations.rows import EventRollups
from app.rollups.model import MINUTE_MS

from conftest import BACKENDS, store_url_for

EVENTS, DAYS, SEED = 12_000, 30, 11
END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
END_MS = int(END.timestamp() * 1000)
DAY = 24 * 60 * MINUTE_MS


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    from app.demo.generator import generate
    data_dir = tmp_path_factory.mktemp("health-backends")
    app = create_app({"PLATLOGS_DATA_DIR": str(data_dir),
                      "PLATLOGS_STORE": store_url_for(request.param, data_dir, request)})
    services = app.extensions["platlogs"]
    events = list(generate(EVENTS, days=DAYS, seed=SEED, end=END))
    report = services.ingestor.ingest(((i, orjson.dumps(e)) for i, e in enumerate(events)), position="line")
    assert report.accepted == EVENTS
    yield request.param, services, events
    services.close()


def _ms(event: dict) -> int:
    return int(datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def brute_force(events: list[dict], provider: str, start: int, end: int) -> dict:
    """Everything by hand from the raw events: per-minute calls and failures, codes, durations."""
    t = thresholds()
    origin = start - t.warmup_minutes * MINUTE_MS
    n = (end - origin) // MINUTE_MS
    calls, failures, codes, durations, timeouts = [0] * n, [0] * n, {}, [], 0
    for e in events:
        call = e.get("integration") or {}
        if call.get("provider") != provider:
            continue
        at = _ms(e)
        if not origin <= at < end:
            continue
        i = (at - origin) // MINUTE_MS
        calls[i] += 1
        failures[i] += call.get("status") in INTEGRATION_FAILURE_STATUSES
        if at >= start:
            codes[call.get("status")] = codes.get(call.get("status"), 0) + 1
            timeouts += call.get("status") == "timeout"
            if isinstance(call.get("duration"), (int, float)):
                durations.append(float(call["duration"]))
    st = C.states(calls, failures, t)
    found = C.incidents(st, calls, failures, origin, t, t.warmup_minutes)
    w = t.warmup_minutes
    return {"calls": sum(calls[w:]), "failures": sum(failures[w:]), "timeouts": timeouts, "codes": codes,
            "durations": sorted(durations), "incidents": [(i.start_ms, i.end_ms, i.severity) for i in found],
            "uptime": C.uptime(found, start, end)["uptime"]}


def test_thirty_days_of_every_provider_equal_a_brute_force_computation(demo):
    backend, services, events = demo
    start = END_MS - DAYS * DAY
    names = sorted({e["integration"]["provider"] for e in events if e.get("integration", {}).get("provider")})
    assert len(names) >= 10
    incidents_seen = 0
    for name in names:
        d = service.detail(services.store, services.meta, name, start, END_MS, END_MS)
        bf = brute_force(events, name, start, END_MS)
        f = d["figures"]
        assert (f["calls"], f["failures"], f["timeouts"]) == (bf["calls"], bf["failures"], bf["timeouts"]), name
        assert f["statuses"] == dict(sorted(bf["codes"].items())), name
        assert [(i["start_ms"], i["end_ms"], i["severity"]) for i in reversed(d["incidents"])] == bf["incidents"], name
        assert d["uptime"] == bf["uptime"], name
        incidents_seen += len(bf["incidents"])
        raw = bf["durations"]
        buckets: dict[int, int] = {}
        for ms in raw:
            buckets[sketch.bucket(ms)] = buckets.get(sketch.bucket(ms), 0) + 1
        for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            assert f[key] == sketch.quantile(buckets, q), (name, key)
            exact = raw[math.floor(q * (len(raw) - 1))]
            assert f[key] == pytest.approx(exact, rel=sketch.RELATIVE_ERROR + 1e-9), (name, key, exact)
    assert incidents_seen >= 1        # the planted outage is in the range


def test_the_store_rollups_give_the_rows_the_raw_events_give(demo):
    backend, services, _ = demo
    rollups = getattr(services.store, "rollups", None)
    if rollups is None:
        pytest.skip(f"the {backend} store keeps no rollups: the service reads the raw events")
    start = END_MS - DAYS * DAY
    for step in (MINUTE_MS, 60 * MINUTE_MS, DAY):
        def key(rows):
            return [(r.start_ms, r.provider, r.kind, r.calls, r.failures, r.timeouts, r.statuses, r.latency)
                    for r in rows]
        assert key(rollups.providers(start, END_MS, step)) == key(EventRollups(services.store).providers(
            start, END_MS, step)), step
