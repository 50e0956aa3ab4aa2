"""app/alerts/history.py is the only writer of alert history rows (issue 16: they were written from
actions.py, lifecycle.py and notify.py, each with its own idea of what a row holds)."""
from __future__ import annotations

import re
from pathlib import Path

from app.alerts import history
from app.alerts.lifecycle import Alerts
from app.meta.alert_tables import AlertHistory, AlertInstance, to_dt

APP = Path(__file__).resolve().parents[1] / "app"
WRITER = APP / "alerts" / "history.py"
# a row made, or inserted in bulk, anywhere but the writer (the class statement is not a write)
WRITES = re.compile(r"(?<!class )\bAlertHistory\s*\(|insert\(\s*AlertHistory\b|AlertHistory\.__table__\.insert")


def test_no_module_but_history_writes_alert_history():
    found = []
    for path in sorted(APP.rglob("*.py")):
        if path == WRITER:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WRITES.search(line):
                found.append(f"{path.relative_to(APP.parent)}:{number}: {line.strip()}")
    assert found == [], "alert history written outside app/alerts/history.py:\n" + "\n".join(found)


def test_the_pattern_finds_a_write():
    assert WRITES.search("s.add(AlertHistory(at=at, actor=who))")
    assert WRITES.search("s.execute(insert(AlertHistory).values(rows))")
    assert not WRITES.search("class AlertHistory(Base):") and not WRITES.search("select(AlertHistory)")


def test_each_kind_of_entry(services):
    at = to_dt(1_795_000_000_000)
    with services.meta.Session() as s:
        inst = AlertInstance(rule_id="r1", group_key="p-1", state="firing", severity="warning", first_seen_at=at,
                             last_seen_at=at, notify_count=0)
        s.add(inst)
        s.flush()
        history.transition(s, inst, "fired", "pending", "firing", at, "held 60 s")
        history.delivery_failed(s, inst, at, "firing ops: HTTP 404 (permanent)")
        history.action(s, "acknowledged", "sec-anna", at, "x" * 5000, inst=inst)
        history.action(s, "maintenance_added", "sec-anna", at, "#1", rule_id=None, group_key="psp-*")
        history.destination_change(s, "destination_deleted", "admin", at, "ops")
        s.commit()
    rows = [h.as_dict() for h in reversed(Alerts(services.meta).history())]
    assert [(r["action"], r["actor"], r["instance_id"] is not None, r["rule_id"], r["group"], r["from"], r["to"])
            for r in rows] == [
        ("fired", "scheduler", True, "r1", "p-1", "pending", "firing"),
        ("delivery_failed", "scheduler", True, "r1", "p-1", "firing", "firing"),
        ("acknowledged", "sec-anna", True, "r1", "p-1", "firing", "firing"),
        ("maintenance_added", "sec-anna", False, None, "psp-*", None, None),
        ("destination_deleted", "admin", False, None, None, None, None)]
    assert len(rows[2]["comment"]) == 2048            # bounded to the column, in one place
    assert isinstance(rows[0]["id"], int) and AlertHistory.__tablename__ == "alert_history"
