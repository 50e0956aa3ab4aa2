"""Integration health (issue 14.1): the pure computations on hand-made rows, thresholds as data,
silence against a provider's own usual traffic, and the demo's planted outage seen by the status
tracker — exactly that provider down and back up, one incident of the right duration, no other
provider changing status."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import orjson
import pytest

from app import create_app
from app.integrations import compute as C
from app.integrations import service
from app.integrations.config import HealthConfigError, Thresholds, load, parse
from app.integrations.registry import Provider
from app.integrations.rows import EventRollups, MemoryRollups, reduce
from app.integrations.tracking import track
from app.query import parse as parse_query
from app.rollups.model import MINUTE_MS, ProviderRow
from app.storage import SearchRequest

HOUR = 60 * MINUTE_MS
DAY = 24 * HOUR
T = Thresholds()


# -- thresholds as data ------------------------------------------------------------------------

def test_the_shipped_thresholds_load():
    t = load()
    assert 0 < t.degraded_rate <= t.down_rate <= 1 and t.window_minutes >= 1


@pytest.mark.parametrize("data, message", [
    ([], "health.yaml: expected a mapping"),
    ({"stauts": {}}, "health.yaml: unknown section 'stauts'"),
    ({"status": 3}, "health.yaml: status: expected a mapping"),
    ({"status": {"down_rat": 0.5}}, "health.yaml: status: unknown field 'down_rat'"),
    ({"status": {"down_rate": "half"}}, "health.yaml: status: down_rate: expected a number"),
    ({"status": {"down_rate": 1.5}}, "health.yaml: status: down_rate: must be between 0.0 and 1.0"),
    ({"status": {"window_minutes": 2.5}}, "health.yaml: status: window_minutes: expected a whole number"),
    ({"status": {"min_failures": True}}, "health.yaml: status: min_failures: expected a whole number"),
    ({"status": {"degraded_rate": 0.6, "down_rate": 0.5}}, "health.yaml: status: degraded_rate: must not exceed"),
    ({"silence": {"span_minutes": 7}}, "health.yaml: silence: span_minutes: must divide an hour"),
])
def test_bad_thresholds_are_refused_naming_file_section_and_field(data, message):
    with pytest.raises(HealthConfigError) as err:
        parse(data)
    assert str(err.value).startswith(message), str(err.value)


def test_a_file_that_is_not_yaml_is_named(tmp_path):
    bad = tmp_path / "health.yaml"
    bad.write_text("status: [unclosed\n")
    with pytest.raises(HealthConfigError, match="health.yaml: not valid YAML"):
        load(bad)


# -- states, incidents, uptime on hand-made minutes --------------------------------------------

def minutes(provider: str, start_ms: int, plan) -> list[ProviderRow]:
    """Rows from a plan of (minute offset, calls, failures)."""
    return [ProviderRow(start_ms=start_ms + m * MINUTE_MS, provider=provider, kind="game", calls=c, failures=f,
                        statuses={"ok": c - f, **({"timeout": f} if f else {})}, timeouts=f)
            for m, c, f in plan if c]


def test_a_twenty_minute_outage_is_one_down_incident_of_twenty_minutes():
    start = 1_800_000_000_000 // HOUR * HOUR
    plan = [(m, 10, 10 if 100 <= m < 120 else 0) for m in range(300)]
    calls, failures = C.series(minutes("Acme", start, plan), start, start + 300 * MINUTE_MS)
    st = C.states(calls, failures, T)
    # the trailing window dilutes the first minutes (degraded), then down until the failures leave it
    assert st[99] == C.UP and st[100] == C.DEGRADED and st[103] == st[121] == C.DOWN and st[-1] == C.UP
    found = C.incidents(st, calls, failures, start, T)
    assert len(found) == 1
    assert (found[0].start_ms, found[0].end_ms) == (start + 100 * MINUTE_MS, start + 120 * MINUTE_MS)
    assert found[0].severity == C.DOWN and found[0].peak_rate == 1.0 and found[0].failures == 200
    up = C.uptime(found, start, start + 300 * MINUTE_MS)
    assert up["down_minutes"] == 20 and up["uptime"] == pytest.approx(100 * 280 / 300)
    assert C.mttr(found) == 20 * MINUTE_MS


def test_a_few_failures_are_degraded_and_a_lone_one_is_nothing():
    start = 1_800_000_000_000 // HOUR * HOUR
    plan = [(m, 10, 2 if 50 <= m < 60 else 1 if m == 200 else 0) for m in range(300)]
    calls, failures = C.series(minutes("Acme", start, plan), start, start + 300 * MINUTE_MS)
    found = C.incidents(C.states(calls, failures, T), calls, failures, start, T)
    assert [(i.severity, i.duration_ms) for i in found] == [(C.DEGRADED, 10 * MINUTE_MS)]


def test_an_unhealthy_provider_stays_so_through_quiet_minutes_until_calls_succeed():
    start = 1_800_000_000_000 // HOUR * HOUR
    plan = [(0, 5, 5), (1, 5, 5), (40, 3, 0), (41, 3, 0), (47, 3, 0)]
    calls, failures = C.series(minutes("Acme", start, plan), start, start + 60 * MINUTE_MS)
    st = C.states(calls, failures, T)
    assert st[1] == st[30] == C.DOWN and st[47] == C.UP
    found = C.incidents(st, calls, failures, start, T)
    assert [(i.start_ms - start, i.end_ms - start) for i in found] == [(0, 2 * MINUTE_MS)]


def test_figures_count_errors_by_code_and_percentiles_come_from_the_sketch():
    events = [{"@timestamp": "2026-11-20T10:00:%02d.000Z" % i, "event": {"component": "integration"},
               "integration": {"provider": "Acme", "kind": "payment", "status": s, "duration": float(d)}}
              for i, (s, d) in enumerate([("ok", 10), ("ok", 20), ("rejected", 30), ("timeout", 30000), ("error", 5)])]
    f = C.figures(reduce(events))
    assert (f["calls"], f["failures"], f["timeouts"]) == (5, 2, 1)
    assert f["success_rate"] == pytest.approx(0.6)
    assert [(e["code"], e["count"], e["provider_failure"]) for e in f["errors"]] == [
        ("error", 1, True), ("rejected", 1, False), ("timeout", 1, True)]
    assert f["p50"] == pytest.approx(20, rel=0.01) and f["p99"] == pytest.approx(30, rel=0.01)


# -- silence against the usual traffic for the hour of the week --------------------------------

def day_shift_rows(provider: str, start_ms: int, days: int, until_ms: int) -> list[ProviderRow]:
    """A provider called every minute from 06:00 to 22:00 UTC, never at night."""
    out = []
    for m in range(days * 24 * 60):
        at = start_ms + m * MINUTE_MS
        if at >= until_ms:
            break
        if 6 <= (at // HOUR) % 24 < 22:
            out.append(ProviderRow(start_ms=at, provider=provider, kind="kyc", calls=3, statuses={"ok": 3}))
    return out


@pytest.mark.parametrize("hour, expected", [(3, C.UP), (5, C.UP), (23, C.UP)])
def test_a_provider_quiet_every_night_is_not_silent_at_night(hour, expected):
    day0 = 1_800_000_000_000 // DAY * DAY
    now = day0 + 21 * DAY + hour * HOUR + 17 * MINUTE_MS
    read = MemoryRollups(day_shift_rows("NightOwl", day0, 22, now))
    status = service.status_now(read, now, T, [Provider("NightOwl", "kyc", day0, now)])["NightOwl"]
    assert status["status"] == expected, status


def test_the_same_provider_silent_in_the_afternoon_is_silent():
    day0 = 1_800_000_000_000 // DAY * DAY
    now = day0 + 21 * DAY + 14 * HOUR
    rows = day_shift_rows("NightOwl", day0, 22, now - 40 * MINUTE_MS)   # nothing for the last 40 minutes
    status = service.status_now(MemoryRollups(rows), now, T, [Provider("NightOwl", "kyc", day0, now)])["NightOwl"]
    assert status["status"] == C.SILENT, status
    ten = service.status_now(MemoryRollups(day_shift_rows("NightOwl", day0, 22, now - 10 * MINUTE_MS)), now, T,
                             [Provider("NightOwl", "kyc", day0, now)])["NightOwl"]
    assert ten["status"] == C.UP, ten     # ten quiet minutes are not enough for a provider called every minute


def test_quiet_at_night_annotation_excuses_silence_at_night_only():
    day0 = 1_800_000_000_000 // DAY * DAY
    now = day0 + 21 * DAY + 2 * HOUR      # 02:00, inside the night of health.yaml
    rows = [r for r in day_shift_rows("Owl", day0, 22, now) if True]
    # calls at night in earlier weeks: silence at 02:00 would be news ...
    rows += [ProviderRow(start_ms=day0 + d * DAY + h * HOUR + m * MINUTE_MS, provider="Owl", kind="kyc", calls=1,
                         statuses={"ok": 1}) for d in range(21) for h in range(0, 6) for m in range(0, 60, 2)]
    rows = [r for r in rows if r.start_ms < now - 90 * MINUTE_MS]
    p = Provider("Owl", "kyc", day0, now)
    assert service.status_now(MemoryRollups(rows), now, T, [p])["Owl"]["status"] == C.SILENT
    p.quiet_at_night = True      # ... unless people said it is expected to be quiet at night
    assert service.status_now(MemoryRollups(rows), now, T, [p])["Owl"]["status"] == C.UP


def test_a_provider_never_called_in_the_baseline_is_unknown():
    now = 1_800_000_000_000
    status = service.status_now(MemoryRollups([]), now, T, [Provider("Ghost", None, None, None)])["Ghost"]
    assert status["status"] == C.UNKNOWN


# -- the demo's planted outage ------------------------------------------------------------------

DEMO_EVENTS, DEMO_DAYS, DEMO_SEED = 20_000, 7, 42
DEMO_END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
END_MS = int(DEMO_END.timestamp() * 1000)


def planted_outage() -> tuple[str, int, int]:
    """(provider, start, end) of the outage the generator plants: the same simulator and draws as
    generate(), stopped after incidents() planned it."""
    from app.demo.generator import _Sim
    sim = _Sim(DEMO_EVENTS, END_MS - DEMO_DAYS * DAY, END_MS, random.Random(DEMO_SEED))
    sim.incidents(min(1.0, DEMO_EVENTS / 1250))
    return sim.out_prov, sim.out_s, sim.out_e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from app.demo.generator import generate
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("health-demo"))})
    services = app.extensions["platlogs"]
    lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(DEMO_EVENTS, days=DEMO_DAYS, seed=DEMO_SEED,
                                                                 end=DEMO_END)))
    assert services.ingestor.ingest(lines, position="line").accepted == DEMO_EVENTS
    yield services
    services.close()


def test_the_planted_outage_turns_exactly_that_provider_down_and_back_up(demo):
    prov, out_s, out_e = planted_outage()
    read = MemoryRollups(EventRollups(demo.store).providers(END_MS - 35 * DAY, END_MS + DAY, MINUTE_MS))
    known = service.providers(demo.store, demo.meta)
    assert prov in {p.name for p in known}
    changes = []
    for now in range(END_MS - 30 * HOUR, END_MS + HOUR, 2 * MINUTE_MS):   # the scheduler, every 2 minutes
        report = track(now, demo, read=read, known=known)
        assert not report.errors
        changes += [(c.provider, c.before, c.after, c.at_ms) for c in report.changes]
    assert [(p, b, a) for p, b, a, _ in changes] == [(prov, "up", "down"), (prov, "down", "up")], changes
    went_down, came_up = changes[0][3], changes[1][3]
    assert out_s <= went_down <= out_s + 10 * MINUTE_MS
    assert out_e <= came_up <= out_e + 2 * HOUR
    # the changes are integration events in the store, found by searching for the provider
    found = demo.store.search(SearchRequest(query=parse_query(f'event.type:provider_status AND target.id:"{prov}"'),
                                            size=10, newest_first=False))
    assert [e["labels"]["health_status"] for e in found.hits] == ["down", "up"]
    assert all(e["event"]["component"] == "integration" for e in found.hits)


def test_the_planted_outage_is_one_incident_of_the_right_duration_and_no_one_else_has_any(demo):
    prov, out_s, out_e = planted_outage()
    board = service.overview(demo.store, demo.meta, END_MS)
    tiles = {t["provider"]: t for g in board["groups"] for t in g["tiles"]}
    assert len(tiles) >= 10
    assert {name: t["incidents"] for name, t in tiles.items() if t["incidents"]} == {prov: 1}
    assert tiles[prov]["recent"] and board["groups"][0]["tiles"][0]["provider"] == prov   # worst first
    assert all(t["status"] == C.UP for t in tiles.values()), {n: t["status"] for n, t in tiles.items()}
    d = service.detail(demo.store, demo.meta, prov, END_MS - 2 * DAY, END_MS, END_MS)
    [incident] = d["incidents"]
    assert incident["severity"] == C.DOWN and incident["peak_rate"] == 1.0
    # minute resolution; the planted outage's first and last failing calls fall inside its window
    assert abs(incident["start_ms"] - out_s) <= MINUTE_MS
    assert abs(incident["duration_ms"] - (out_e - out_s)) <= 3 * MINUTE_MS, (incident["duration_ms"], out_e - out_s)
    assert d["mttr_ms"] == incident["duration_ms"]
    assert d["down_minutes"] == incident["duration_ms"] / MINUTE_MS
