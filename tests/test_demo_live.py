"""The live demo traffic (app/demo/live.py): a few events a second stamped with the wall clock,
an incident every few minutes that the shipped alert rules catch, stored through the real ingest
pipeline; the process stops cleanly on SIGTERM and when the demo script it watches is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from app import create_app
from app.alerts.evaluate import evaluate
from app.alerts.rules import default_rules_dir, load_rules
from app.demo.live import INCIDENTS, Trickle, run
from app.query import parse
from app.storage import SearchRequest

def parse_ts(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


T0 = 1_795_424_400_000          # Monday 2026-11-23 09:00:00 UTC
ROOT = Path(__file__).resolve().parents[1]


def test_a_few_events_a_second_stamped_when_they_come_out():
    trickle = Trickle(rate=3, incident_every_s=0, seed=7, start_ms=T0)
    released, previous = [], T0
    for second in range(1, 601):
        now = T0 + second * 1000
        batch = trickle.due(now)
        stamps = [parse_ts(e["@timestamp"]) for e in batch]
        assert all(previous - 1000 < ts <= now for ts in stamps)     # due now, none from the future
        assert stamps == sorted(stamps)
        released += batch
        previous = now
    assert 1200 <= len(released) <= 2700                              # ~3 a second over 10 minutes
    assert trickle.incidents == []
    components = {e.get("event", {}).get("component") for e in released}
    assert {"api", "user_activity", "integration"} <= components      # the same stories as the demo


def test_incidents_come_in_turn_every_few_minutes():
    trickle = Trickle(rate=1, incident_every_s=180, seed=3, start_ms=T0, first_incident_s=30)
    events = [e for s in range(1, 20 * 60) for e in trickle.due(T0 + s * 1000)]
    kinds = [kind for _, kind, _ in trickle.incidents]
    assert kinds[:4] == list(INCIDENTS) + [INCIDENTS[0]]
    assert [when for when, _, _ in trickle.incidents][:2] == [T0 + 30_000, T0 + 210_000]
    failed = {}
    for e in events:
        if e.get("event", {}).get("action") == "login_failed":
            failed.setdefault(e["actor"]["ip"], []).append(e)
    assert max(len(v) for v in failed.values()) >= 21                 # one address: over the per-IP line


def test_the_trickle_goes_through_the_ingest_pipeline_and_the_rules_fire(tmp_path):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data")})
    services = app.extensions["platlogs"]
    clock = {"now": T0}
    stop = threading.Event()

    def now_ms() -> int:          # a simulated half hour, one second a call
        clock["now"] += 1000
        if clock["now"] >= T0 + 30 * 60_000:
            stop.set()
        return clock["now"]

    released: list[dict] = []

    try:
        sent = run(released.extend, stop, rate=2, incident_every_s=300, tick_s=0, seed=11, now_ms=now_ms)
        report = services.ingestor.ingest((i, e) for i, e in enumerate(released))   # one batch: a quick test
        assert report.rejected == 0 and report.accepted == sent, report.errors
        store = services.store
        stored = store.search(SearchRequest(query=parse("*"), size=0, total_bound=1_000_000)).total
        assert stored == sent and sent > 2000
        rules = {r.id: r for r in load_rules(default_rules_dir())}
        # the burst planted at T0 + 60 s is caught by the shipped per-address rule ...
        burst = evaluate(rules["brute-force-login-per-ip"], store, T0 + 60_000 + 7 * 60_000)
        assert [f.state for f in burst.findings] == ["alert"]
        # ... the provider outage at T0 + 360 s by the failing-integration rule
        outage = evaluate(rules["integration-failing-per-provider"], store, T0 + 360_000 + 4 * 60_000)
        assert any(f.state == "alert" for f in outage.findings), outage
    finally:
        services.close()


def _live(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.demo.live", "--rate", "20", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_events(tmp_path, proc, n: int = 10) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        line = proc.stdout.readline()
        if line.startswith("demo traffic:"):
            break
    time.sleep(3)


def test_the_process_stops_cleanly_on_sigterm_and_when_the_demo_is_gone(tmp_path):
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path / "data")}
    proc = _live(env)
    _wait_for_events(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "demo traffic: stopped after" in out
    sent = int(out.rsplit("stopped after ", 1)[1].split()[0].replace(",", ""))
    assert sent > 0

    parent = subprocess.Popen(["sleep", "60"])
    watcher = _live(env, "--watch-pid", str(parent.pid))
    _wait_for_events(tmp_path, watcher)
    parent.kill()
    parent.wait()
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err and "stopped after" in out

    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data")})
    try:
        now = time.time_ns() // 1_000_000
        recent = app.extensions["platlogs"].store.search(SearchRequest(query=parse("*"), start_ms=now - 120_000,
                                                                       end_ms=now + 1000, size=0))
        assert recent.total >= sent                                    # stamped now, stored
    finally:
        app.extensions["platlogs"].close()


def test_live_players_are_the_demo_s_players():
    from app.demo import generate
    demo: dict[str, set] = {}     # a player's e-mail as the demo wrote it (a profile change may change it)
    for e in generate(4000, days=1, seed=42):
        if (e.get("actor") or {}).get("type") == "player" and e["actor"].get("email"):
            demo.setdefault(e["actor"]["id"], set()).add(e["actor"]["email"])
    people = {p.id: p.email for p in Trickle(seed=42, population=4000, start_ms=T0).sim.players}
    assert len(demo) > 20 and all(people[pid] in emails for pid, emails in demo.items())
    others = {p.id: p.email for p in Trickle(seed=7, population=4000, start_ms=T0).sim.players}
    assert sum(others[pid] not in emails for pid, emails in demo.items()) > len(demo) // 2   # the test can fail
