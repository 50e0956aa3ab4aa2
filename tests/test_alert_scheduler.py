"""The alert scheduler (app/alerts/scheduler.py): one tick called directly with the time passed
in; two schedulers on one meta DB (SQLite file and PostgreSQL) send one notification; catch-up
after downtime without duplicates; the real rules and evaluate end to end; `platlogs scheduler`
as its own process."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_alert_notify import Receiver
from test_meta_db import pg_schema_url  # noqa: F401  (fixture)

from app.alerts.catalog import load_catalog
from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation, Finding, Rule
from app.alerts.notify import save_destination
from app.alerts.scheduler import build_scheduler, moments_due, tick
from app.cli import main
from app.config import Settings
from app.meta import MetaDB
from app.meta.alert_tables import iso, to_dt

SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN
T0 = 29_833_333 * MIN
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Svc:
    """What tick() needs: the meta DB, the store, the settings."""
    meta: MetaDB
    store: object
    settings: Settings


@pytest.fixture(params=["sqlite", "postgres"])
def meta_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def connect(meta_url, tmp_path):
    """connect() -> a new Svc with its own MetaDB engine on the same database (a scheduler)."""
    made = []
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path / "data")})

    def make() -> Svc:
        db = MetaDB(meta_url)
        db.create_all()
        made.append(db)
        return Svc(db, store=None, settings=settings)
    yield make
    for db in made:
        db.engine.dispose()


@pytest.fixture
def hook():
    receiver = Receiver((200,), secret="hook-secret")
    yield receiver
    receiver.close()


def make_rule(**changes) -> Rule:
    return dataclasses.replace(Rule(id="provider-errors", name="Provider errors", kind="threshold",
                                    query="event.component:integration AND event.outcome:failure", window_s=300,
                                    threshold=10, group_by="integration.provider", notify=("ops",),
                                    renotify_s=4 * 3600), **changes)


class Script:
    """A stand-in evaluate: each group alerts during its [start, end) spans; records the moments."""

    def __init__(self, **spans):
        self.spans, self.calls, self.lock = spans, [], threading.Lock()

    def __call__(self, rule: Rule, store, now_ms: int) -> Evaluation:
        with self.lock:
            self.calls.append((rule.id, now_ms))
        findings = [Finding(rule_id=rule.id, group=group, state="alert", value=42.0, threshold=rule.threshold,
                            detail=f"42 failures in 5 min ({group})", window_start_ms=now_ms - 5 * MIN,
                            window_end_ms=now_ms)
                    for group, spans in self.spans.items() if any(a <= now_ms < b for a, b in spans)]
        return Evaluation(rule=rule, now_ms=now_ms, findings=findings)


def events(receiver) -> list[tuple[str, str]]:
    return [(r.json["event"], r.json["alert"]["group"]) for r in receiver.requests]


# -- one tick ----------------------------------------------------------------------------------------

def test_a_tick_claims_evaluates_applies_and_delivers(connect, hook):
    svc = connect()
    save_destination(Alerts(svc.meta), "ops", "webhook", hook.url, secret="hook-secret", by="admin")
    script = Script(pragmatic=[(T0, T0 + 3 * MIN)])
    report = tick(T0 + 17 * SEC, svc, evaluate=script, rules=[make_rule()], scheduler="s1")
    assert report.runs == [("provider-errors", T0)] and script.calls == [("provider-errors", T0)]  # on the minute
    assert [(t.group, t.to_state) for t in report.transitions] == [("pragmatic", "pending"), ("pragmatic", "firing")]
    assert report.enqueued == 1 and report.deliveries.sent == 1 and report.errors == []
    assert events(hook) == [("firing", "pragmatic")] and hook.requests[0].signature_ok
    assert "1 run(s)" in report.summary() and "1 sent" in report.summary()
    # the same minute again: nothing to run
    assert tick(T0 + 40 * SEC, svc, evaluate=script, rules=[make_rule()], scheduler="s1").runs == []
    for minute in (1, 2, 3):
        tick(T0 + minute * MIN, svc, evaluate=script, rules=[make_rule()], scheduler="s1")
    assert events(hook) == [("firing", "pragmatic"), ("resolved", "pragmatic")]
    runs = Alerts(svc.meta).runs("provider-errors")
    assert [r.moment_ms for r in runs] == [T0 + m * MIN for m in range(4)]
    assert runs[0].claimed_by == "s1" and runs[0].finished_at == to_dt(T0 + 17 * SEC)
    assert runs[0].outcome == "1 alert; 2 change(s), 1 queued" and runs[3].outcome == "no findings; 1 change(s), 1 queued"


def test_a_broken_rule_is_reported_and_the_others_still_run(connect):
    svc = connect()

    def evaluate(rule, store, now_ms):
        if rule.id == "broken":
            raise RuntimeError("the store exploded")
        return Script(pragmatic=[(T0, T0 + HOUR)])(rule, store, now_ms)
    report = tick(T0, svc, evaluate=evaluate, rules=[make_rule(id="broken"), make_rule()])
    assert len(report.runs) == 2 and len(report.transitions) == 2
    assert report.errors[0] == "rule broken at %d: RuntimeError: the store exploded" % T0
    alerts = Alerts(svc.meta)
    assert alerts.rule_states()["broken"].last_error == "RuntimeError: the store exploded"
    assert alerts.runs("broken")[0].outcome == "error: RuntimeError: the store exploded"
    assert [i.rule_id for i in alerts.active()] == ["provider-errors"]


def test_disabled_rules_do_not_run_and_new_rules_start_now(connect):
    svc = connect()
    script = Script()
    report = tick(T0 + 5 * HOUR, svc, evaluate=script, rules=[make_rule(enabled=False), make_rule(id="fresh")])
    assert report.rules == 1 and report.runs == [("fresh", T0 + 5 * HOUR)] and report.skipped_moments == 0


def test_moments_due():
    assert moments_due(None, T0 + 59 * SEC, MIN, HOUR) == ([T0], 0)
    assert moments_due(T0, T0 + 59 * SEC, MIN, HOUR) == ([], 0)
    assert moments_due(T0, T0 + 3 * MIN + 1, MIN, HOUR) == ([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN], 0)
    assert moments_due(T0, T0 + 5 * HOUR, MIN, 2 * HOUR) == (list(range(T0 + 3 * HOUR, T0 + 5 * HOUR + 1, MIN)), 179)
    assert moments_due(T0 + 7 * SEC, T0 + 2 * MIN, MIN, HOUR) == ([T0 + MIN, T0 + 2 * MIN], 0)   # cadence changed
    assert moments_due(0, 10 * MIN, 5 * MIN, 0) == ([10 * MIN], 1)


# -- two schedulers ---------------------------------------------------------------------------------------

def test_two_schedulers_ticking_the_same_moments_notify_once(connect, hook):
    first, second = connect(), connect()     # two engines on one database: two scheduler processes' view
    save_destination(Alerts(first.meta), "ops", "webhook", hook.url, secret="hook-secret", by="admin")
    script = Script(pragmatic=[(T0 + MIN, T0 + 4 * MIN)], evolution=[(T0 + 2 * MIN, T0 + 9 * MIN)])
    rules = [make_rule(), make_rule(id="provider-errors-2", notify=())]
    reports = []
    for minute in range(6):
        barrier = threading.Barrier(2)
        out = [None, None]

        def run(i, svc):
            barrier.wait()
            out[i] = tick(T0 + minute * MIN + i * 7, svc, evaluate=script, rules=rules, scheduler=f"s{i}")
        threads = [threading.Thread(target=run, args=(i, svc)) for i, svc in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        reports.extend(out)
        assert not any(r.errors for r in out), [r.errors for r in out]
        # each rule's moment ran exactly once, by one of the two
        assert sorted(run for r in out for run in r.runs) == sorted((rule.id, T0 + minute * MIN) for rule in rules)
    assert len(script.calls) == len(set(script.calls)) == 12
    assert sorted(events(hook)) == [("firing", "evolution"), ("firing", "pragmatic"), ("resolved", "pragmatic")]
    assert sum(len(r.runs) for r in reports) == 12    # the other one found it claimed, or already applied
    alerts = Alerts(first.meta)
    assert len(alerts.deliveries()) == 3 and all(d.status == "sent" for d in alerts.deliveries())


def test_two_schedulers_race_on_one_moment_many_times(connect, hook):
    """Many rounds of both schedulers on the same fresh moment: never a second notification."""
    first, second = connect(), connect()
    save_destination(Alerts(first.meta), "ops", "webhook", hook.url, secret="hook-secret", by="admin")
    script = Script(pragmatic=[(T0, T0 + 100 * HOUR)])
    for round_ in range(8):
        rule = make_rule(id=f"race-{round_}")
        barrier = threading.Barrier(2)
        out = []

        def run(svc, name):
            barrier.wait()
            out.append(tick(T0, svc, evaluate=script, rules=[rule], scheduler=name))
        threads = [threading.Thread(target=run, args=(svc, n)) for svc, n in ((first, "a"), (second, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # exactly one ran it; the other found it claimed, or (when the winner had already finished
        # before it read the last moments) found nothing due: never a second run
        assert sorted(len(r.runs) for r in out) == [0, 1]
        loser = next(r for r in out if not r.runs)
        assert loser.claimed_elsewhere <= 1 and not loser.errors and not loser.transitions
    assert len(hook.requests) == 8 and len({r.json["rule"]["id"] for r in hook.requests}) == 8


# -- catch-up -------------------------------------------------------------------------------------------

def test_catch_up_after_an_hour_of_downtime_without_duplicates(connect, hook):
    svc = connect()
    save_destination(Alerts(svc.meta), "ops", "webhook", hook.url, secret="hook-secret", by="admin")
    script = Script(pragmatic=[(T0, T0 + 10 * HOUR)],                    # firing before, during and after
                    evolution=[(T0 + 20 * MIN, T0 + 40 * MIN)],           # came and went while we were down
                    netent=[(T0 + 50 * MIN, T0 + 10 * HOUR)])             # started while we were down
    rule = make_rule()
    tick(T0, svc, evaluate=script, rules=[rule], scheduler="before")
    assert events(hook) == [("firing", "pragmatic")]
    script.calls.clear()

    # the scheduler was down for an hour; it starts again
    report = tick(T0 + HOUR + 5 * SEC, svc, evaluate=script, rules=[rule], scheduler="after")
    assert [m for _, m in script.calls] == [T0 + m * MIN for m in range(1, 61)]    # every missed minute, in order
    assert len(report.runs) == 60 and report.skipped_moments == 0 and report.errors == []
    later = events(hook)[1:]
    assert sorted(later) == [("firing", "evolution"), ("firing", "netent"), ("resolved", "evolution")]
    assert later.index(("firing", "evolution")) < later.index(("resolved", "evolution"))
    assert [e for e in events(hook) if e[1] == "pragmatic"] == [("firing", "pragmatic")]   # not again
    alerts = Alerts(svc.meta)
    evolution = alerts.instances(state="resolved")[0]
    assert evolution.fired_at == to_dt(T0 + 20 * MIN) and evolution.resolved_at == to_dt(T0 + 40 * MIN)
    fired = [h for h in alerts.history(instance_id=evolution.id) if h.action == "fired"][0]
    assert fired.at == to_dt(T0 + 20 * MIN) and fired.actor == "scheduler"

    # and again a minute later: one moment
    script.calls.clear()
    assert tick(T0 + 61 * MIN, svc, evaluate=script, rules=[rule]).runs == [(rule.id, T0 + 61 * MIN)]
    assert len(hook.requests) == 4


def test_catch_up_is_bounded(connect):
    svc = connect()
    script = Script()
    tick(T0, svc, evaluate=script, rules=[make_rule()])
    report = tick(T0 + 5 * HOUR, svc, evaluate=script, rules=[make_rule()], catch_up_s=2 * 3600)
    assert len(report.runs) == 121 and report.skipped_moments == 179
    assert report.runs[0][1] == T0 + 3 * HOUR and "179 missed moment(s)" in report.summary()


def test_a_reminder_is_due_only_at_the_latest_moment_of_a_catch_up(connect, hook):
    svc = connect()
    save_destination(Alerts(svc.meta), "ops", "webhook", hook.url, secret="hook-secret", by="admin")
    script = Script(pragmatic=[(T0, T0 + 10 * HOUR)])
    rule = make_rule(renotify_s=15 * 60)
    tick(T0, svc, evaluate=script, rules=[rule])
    tick(T0 + HOUR, svc, evaluate=script, rules=[rule])      # 60 moments, 4 reminder intervals passed
    assert events(hook) == [("firing", "pragmatic"), ("renotify", "pragmatic")]


# -- the real rules and evaluate ------------------------------------------------------------------------

def test_end_to_end_with_the_real_rules_and_evaluate(services, tmp_path):
    """Rule files and a back-office rule, evaluated by evaluate.evaluate over the SQLite store."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "logins.yaml").write_text(
        "id: failed-logins\nname: Failed logins\nkind: threshold\nquery: 'event.action:login_failed'\n"
        "group_by: actor.id\nwindow: 5m\nthreshold: 3\nnotify: [ops]\n")
    (rules_dir / "broken.yaml").write_text("id: broken\nkind: nonsense\n")
    alerts = Alerts(services.meta)
    alerts.save_ui_rule({"id": "payments-failing", "name": "Payments failing", "kind": "threshold",
                         "query": "event.type:payment AND event.outcome:failure", "window": "5m", "threshold": 100},
                        by="sec-anna")
    alerts.save_ui_rule({"id": "failed-logins", "name": "clash", "kind": "threshold", "query": "*",
                         "window": "5m", "threshold": 1}, by="sec-anna")
    catalog = load_catalog(services.meta, rules_dir)
    rules, errors = catalog.rules(), catalog.errors()
    assert sorted(r.id for r in rules) == ["failed-logins", "payments-failing"]
    assert any("broken.yaml" in e for e in errors)
    assert any("rule failed-logins (made in the back office): a rule file (logins.yaml)" in e for e in errors)

    start = T0 - 4 * MIN
    report = services.ingestor.ingest([(i, {"@timestamp": iso(start + i * 10 * SEC), "message": "login failed",
                                            "event": {"id": f"lf-{i}", "action": "login_failed"},
                                            "actor": {"type": "player", "id": "p-7"}}) for i in range(5)])
    assert report.accepted == 5
    report = tick(T0, services, rules_dir=rules_dir, deliver=False)
    assert sorted(report.runs) == [("failed-logins", T0), ("payments-failing", T0)]
    inst = alerts.open_instance("failed-logins", "p-7")
    assert inst.state == "firing" and inst.value == 5.0 and inst.samples[0] == "lf-4"
    assert "p-7" in inst.search_query
    assert [d.destination for d in alerts.deliveries(inst.id)] == ["ops"]


# -- the command and its loop ------------------------------------------------------------------------------

def test_platlogs_scheduler_once(tmp_path):
    empty = tmp_path / "rules"
    empty.mkdir()
    result = CliRunner().invoke(main, ["scheduler", "--once", "--rules", str(empty)],
                                env={"PLATLOGS_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 rule(s), 0 run(s)")
    result = CliRunner().invoke(main, ["scheduler", "--once"], env={"PLATLOGS_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    shipped = len(list((ROOT / "alerts").glob("*.yaml")))
    assert result.output.startswith(f"{shipped} rule(s), {shipped} run(s)")


def test_build_scheduler_runs_the_job_at_once_and_on_an_interval():
    from apscheduler.schedulers.background import BackgroundScheduler
    ran = threading.Event()
    scheduler = build_scheduler(ran.set, 30, scheduler_cls=BackgroundScheduler)
    [job] = scheduler.get_jobs()
    assert job.trigger.interval.total_seconds() == 30 and job.max_instances == 1 and job.coalesce
    scheduler.start()
    try:
        assert ran.wait(10)
    finally:
        scheduler.shutdown(wait=False)


def test_the_scheduler_runs_in_its_own_process_and_stops_on_sigterm(tmp_path):
    empty = tmp_path / "rules"
    empty.mkdir()
    env = {**os.environ, "PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "scheduler", "--interval", "5", "--rules", str(empty)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("tick: "):
                break
        assert lines[-1].startswith("tick: 0 rule(s)"), lines
        assert lines[0].startswith("alert scheduler ")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
