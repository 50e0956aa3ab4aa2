"""The ingest status (issue 15 item 9): counters per protocol, source and reason kept by the
server, summed over processes, shown by the page, the JSON API and `platlogs ingest-status`.

Real parts: the real app (Flask's test client) on the embedded store, a real second Python
process ingesting into the same data directory, the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from conftest import make_persona
from test_syslog import listener_factory  # noqa: F401 (fixture)

from app import create_app
from app.ingest.pipeline import IngestReport
from app.ingest.stats import LAG_BOUNDS_MS, MAX_ROWS, IngestStats, Origin
from app.ingest.stats_files import read_snapshots, stats_dir
from app.ingest.status import ingest_status

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>alert("x")</script> 4111 1111 1111 1111 password=hunter2'
PROTOCOL_ROLES = {"administrator", "operations", "technical"}


def _status(client, headers) -> dict:
    response = client.get("/api/v1/ingest/status", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _protocol(status: dict, name: str) -> dict:
    return next(p for p in status["protocols"] if p["protocol"] == name)


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def _otlp(records: list[dict]) -> bytes:
    return orjson.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": records}]}]})


def test_each_protocol_counts_its_accepted_and_refused_items_by_reason(app, client, services, read_headers):
    key = services.meta.create_key("fluent shipper", ["ingest"])[1]
    auth = {"Authorization": f"Bearer {key}"}
    big = "x" * (services.settings.max_event_bytes + 10)

    # native NDJSON bulk: 3 good (one 9 minutes late), bad JSON, a repeated key, a schema error, one too large
    ndjson = b"\n".join([
        b'{"message": "one"}', b'{"message": "two"}',
        orjson.dumps({"message": "late", "@timestamp": _ago(9)}),
        b"{not json", b'{"message": "a", "message": "b"}', b'{"message": "m", "event": {"component": "nope"}}',
        orjson.dumps({"message": big}),
    ]) + b"\n"
    r = client.post("/api/v1/events/bulk", data=ndjson,
                    headers=dict(auth, **{"Content-Type": "application/x-ndjson", "User-Agent": "Fluent-Bit"}))
    assert r.status_code == 207 and r.get_json()["accepted"] == 3 and r.get_json()["rejected"] == 4

    # native JSON array: one good; then a request without a key and one with a bad key
    assert client.post("/api/v1/events", json=[{"message": "single"}], headers=auth).status_code == 200
    assert client.post("/api/v1/events", json=[{"message": "x"}]).status_code == 401
    assert client.post("/api/v1/events", json=[{"message": "x"}],
                       headers={"Authorization": "Bearer plk_not_a_key"}).status_code == 401

    # OTLP JSON: two good records, one in the future (refused: time)
    future = str(time.time_ns() + 10 * 86_400 * 10**9)
    body = _otlp([{"body": {"stringValue": "otlp one"}}, {"body": {"stringValue": "otlp two"}},
                  {"body": {"stringValue": "otlp late"}, "timeUnixNano": future}])
    r = client.post("/v1/logs", data=body, headers=dict(auth, **{"Content-Type": "application/json",
                                                                  "User-Agent": "OTel-OTLP-Exporter-Python/1.27.0"}))
    assert r.status_code == 200 and r.get_json()["partialSuccess"]["rejectedLogRecords"] == "1"

    # ES _bulk: two good, one malformed source, one action line without an index
    es = b"\n".join([b'{"index": {}}', b'{"message": "es one"}', b'{"create": {}}', b'{"message": "es two"}',
                     b'{"index": {}}', b"{broken", b'{"index": {"_index": null}}', b'{"message": "x"}']) + b"\n"
    r = client.post("/logs/_bulk", data=es, headers=dict(auth, **{"Content-Type": "application/x-ndjson",
                                                                    "User-Agent": "elasticsearch-py/8.15.0"}))
    assert r.status_code == 200
    statuses = [next(iter(item.values()))["status"] for item in r.get_json()["items"]]
    assert statuses.count(201) == 2 and len(statuses) == 4

    status = _status(client, read_headers)
    bulk = _protocol(status, "native-bulk")
    assert (bulk["accepted"], bulk["refused"]) == (3, 4)
    assert bulk["refused_by"] == {"bad_json": 1, "repeated_key": 1, "schema": 1, "too_large": 1}
    assert bulk["bytes"] == len(ndjson) and bulk["requests"] == 1
    assert bulk["newest_event_age_s"] < 30       # the newest event: stamped at ingest
    assert bulk["lag"]["p95_ms"] == 600_000 and bulk["lag"]["p50_ms"] <= 1_000      # one of three: <= 10 min late

    native = _protocol(status, "native")
    assert (native["accepted"], native["refused"], native["refused_by"]) == (1, 2, {"auth": 2})
    otlp = _protocol(status, "otlp")
    assert (otlp["accepted"], otlp["refused"], otlp["refused_by"]) == (2, 1, {"time": 1})
    es_row = _protocol(status, "es-bulk")
    assert (es_row["accepted"], es_row["refused"]) == (2, 2)
    assert es_row["refused_by"] == {"bad_json": 1, "bad_request": 1}

    assert status["totals"]["accepted"] == 8 and status["totals"]["refused"] == 9
    assert status["totals"]["rate"]["1m"] > 0 and status["totals"]["rate"]["1h"] > 0
    sources = {(s["protocol"], s["source"]): s for s in status["sources"]}
    assert sources[("native-bulk", "fluent shipper")]["shipper"] == "fluent-bit"
    assert sources[("otlp", "fluent shipper")]["shipper"] == "opentelemetry"
    assert sources[("es-bulk", "fluent shipper")]["shipper"] == "elasticsearch-py"
    assert sources[("native", "(no key)")]["refused_by"] == {"auth": 1}
    assert sources[("native", "(bad key)")]["refused_by"] == {"auth": 1}
    reasons = {r["reason"]: r["count"] for r in status["refusals"]}
    assert reasons == {"auth": 2, "bad_json": 2, "bad_request": 1, "repeated_key": 1, "schema": 1,
                       "time": 1, "too_large": 1}
    assert status["queues"]["group_commit"] is not None and status["queues"]["in_flight"] == 0
    # the same numbers from the service the page and the CLI call
    again = ingest_status(services.settings.data_dir, stats=services.ingest_stats)
    assert again["totals"]["accepted"] == 8 and again["refusals"] == status["refusals"]


def test_a_body_over_the_request_limit_is_counted_as_too_large(tmp_path):
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "d"), "PLATLOGS_MAX_REQUEST_BYTES": "2048"})
    services = app.extensions["platlogs"]
    try:
        key = services.meta.create_key("big sender", ["ingest"])[1]
        client = app.test_client()
        r = client.post("/api/v1/events", data=orjson.dumps([{"message": "y" * 4000}]),
                        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        assert r.status_code == 413
        r = client.post("/v1/logs", data=b"\x00", headers={"Authorization": f"Bearer {key}",
                                                           "Content-Type": "text/csv"})
        assert r.status_code == 415
        status = ingest_status(services.settings.data_dir, stats=services.ingest_stats)
        assert _protocol(status, "native")["refused_by"] == {"too_large": 1}
        assert _protocol(status, "otlp")["refused_by"] == {"unsupported": 1}
    finally:
        services.close()


SECOND_PROCESS = textwrap.dedent("""
    import sys
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": sys.argv[1]})
    services = app.extensions["platlogs"]
    key = services.meta.create_key("second process", ["ingest"])[1]
    client = app.test_client()
    body = b"".join(b'{"message": "from the second process %d"}\\n' % i for i in range(50)) + b"not json\\n"
    r = client.post("/api/v1/events/bulk", data=body, headers={"Authorization": "Bearer " + key,
                                                                "Content-Type": "application/x-ndjson"})
    assert r.status_code == 207, r.status_code
    services.close()
    print("ok")
""")


def test_counts_of_two_processes_add_up_and_outlive_the_process(app, client, services, ingest_headers):
    body = b"".join(b'{"message": "first %d"}\n' % i for i in range(30))
    r = client.post("/api/v1/events/bulk", data=body, headers=dict(ingest_headers, **{"Content-Type": "application/x-ndjson"}))
    assert r.status_code == 200
    data_dir = str(services.settings.data_dir)
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, data_dir], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    status = ingest_status(data_dir, stats=services.ingest_stats)
    bulk = _protocol(status, "native-bulk")
    assert (bulk["accepted"], bulk["refused"], bulk["requests"]) == (80, 1, 2)
    by_source = {s["source"]: s["accepted"] for s in status["sources"]}
    assert by_source == {"test ingest": 30, "second process": 50}
    # the ended process's file was folded into retired.json, once: reading again changes nothing
    names = sorted(p.name for p in stats_dir(data_dir).glob("*.json"))
    assert "retired.json" in names and len(names) == 2, names
    assert any(not p["alive"] and p["pid"] is None for p in status["processes"])
    again = ingest_status(data_dir, stats=services.ingest_stats)
    assert _protocol(again, "native-bulk")["accepted"] == 80


def test_hostile_source_names_are_redacted_and_bounded(client, services, read_headers):
    key = services.meta.create_key(HOSTILE, ["ingest"])[1]
    r = client.post("/api/v1/events", json={"message": "hi"}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    status = _status(client, read_headers)
    text = json.dumps(status)
    assert "4111 1111 1111 1111" not in text and "hunter2" not in text
    source = next(s["source"] for s in status["sources"] if s["protocol"] == "native")
    assert source.startswith("<script>") and len(source) <= 80
    raw = "".join(p.read_text() for p in stats_dir(services.settings.data_dir).glob("*.json"))
    assert "hunter2" not in raw and "4111 1111 1111 1111" not in raw


def test_sources_are_bounded_per_process_and_in_the_answer(tmp_path):
    stats = IngestStats(stats_dir(tmp_path))
    for i in range(MAX_ROWS + 10):
        stats.add(Origin("native", f"key {i}", bytes=1), accepted=1)
    stats.flush()
    rows = read_snapshots(stats_dir(tmp_path))[0]["rows"]
    assert len(rows) == MAX_ROWS + 1          # and one "(other)" per protocol
    assert next(r for r in rows if r["source"] == "(other)")["accepted"] == 10
    status = ingest_status(tmp_path, top=5)
    assert len(status["sources"]) <= 6 and status["totals"]["accepted"] == MAX_ROWS + 10
    assert [s["source"] for s in status["sources"]].count("(other)") == 1
    assert sum(s["accepted"] for s in status["sources"]) == MAX_ROWS + 10
    stats.close()


def test_lag_percentiles_come_from_fixed_buckets(tmp_path):
    stats = IngestStats(stats_dir(tmp_path))
    now = time.time_ns() // 1_000_000
    from app.ingest.stats import Tally
    tally = Tally(stats, Origin("native", "k"))
    tally.batch([{"_ts": now - 3_000}] * 90 + [{"_ts": now - 3_000_000}] * 10)

    tally.finish(IngestReport(accepted=100))
    status = ingest_status(tmp_path, stats=stats)
    lag = _protocol(status, "native")["lag"]
    assert lag["p50_ms"] == 5_000 and lag["p95_ms"] == 3_600_000 and lag["samples"] >= 96
    assert 2 <= _protocol(status, "native")["newest_event_age_s"] < 30
    assert LAG_BOUNDS_MS[0] == 0
    stats.close()


# What a refusal's kind is, and that it is never read from the words of its reason:
# tests/test_ingest_refusals.py.


def test_the_cli_prints_the_same_status(tmp_path):
    data = tmp_path / "data"
    events = tmp_path / "events.ndjson"
    events.write_text('{"message": "a"}\n{"message": "b"}\n{oops\n')
    env = dict(os.environ, PLATLOGS_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(events)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr      # a line was refused
    from app.cli import main
    result = CliRunner().invoke(main, ["ingest-status", "--format", "json"], env={"PLATLOGS_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    cli = _protocol(status, "cli")
    assert (cli["accepted"], cli["refused"], cli["refused_by"]) == (2, 1, {"bad_json": 1})
    assert cli["bytes"] == events.stat().st_size
    table = CliRunner().invoke(main, ["ingest-status"], env={"PLATLOGS_DATA_DIR": str(data)})
    assert table.exit_code == 0 and "platlogs ingest" in table.output and "bad_json" in table.output


@pytest.mark.parametrize("role", ["administrator", "security", "operations", "technical", "support", "manager",
                                  "auditor"])
def test_only_roles_with_view_ingest_see_the_page_and_the_json(app, role):
    client = make_persona(app, role)
    page, api = client.get("/ingest/status"), client.get("/api/v1/ingest/status")
    expected = 200 if role in PROTOCOL_ROLES else 403
    assert (page.status_code, api.status_code) == (expected, expected)
    nav = client.get("/").get_data(as_text=True)
    assert ('href="/ingest/status"' in nav) == (role in PROTOCOL_ROLES)


def test_keys_and_the_anonymous(client, read_headers, ingest_headers):
    assert client.get("/api/v1/ingest/status", headers=read_headers).status_code == 200
    assert client.get("/api/v1/ingest/status", headers=ingest_headers).status_code == 403
    assert client.get("/api/v1/ingest/status").status_code == 401
    assert client.get("/ingest/status").status_code == 302      # to the sign-in page
    assert client.get("/api/v1/ingest/status?top=0", headers=read_headers).status_code == 400


def test_the_page_escapes_source_names(app, services):
    key = services.meta.create_key(HOSTILE, ["ingest"])[1]
    assert app.test_client().post("/api/v1/events", json={"message": "hi"},
                                  headers={"Authorization": f"Bearer {key}"}).status_code == 200
    html = make_persona(app, "operations").get("/ingest/status").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "hunter2" not in html


def test_syslog_counts_join_the_status(listener_factory):  # noqa: F811 (the fixture)
    from test_syslog import octet
    listener = listener_factory(tcp="127.0.0.1:0")
    import socket
    with socket.create_connection(("127.0.0.1", listener.ports["tcp"])) as conn:
        for i in range(5):
            conn.sendall(octet(b"<13>1 2026-12-03T10:00:0%dZ h1 app1 - - - status-%d" % (i, i)))
    listener.wait(lambda s: s["stored"] >= 5)
    deadline = time.monotonic() + 15
    while True:       # the writer process writes its counters within a second
        status = ingest_status(listener.data_dir)
        row = next((p for p in status["protocols"] if p["protocol"] == "syslog"), None)
        if row and row["accepted"] >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert row["accepted"] == 5 and row["refused"] == 0 and row["requests"] >= 1
    assert row["lag"]["samples"] >= 1 and row["newest_event"].startswith("2026-12-03T10:00:04")
    assert status["syslog"]["stored"] == 5 and status["queues"]["syslog"]["depth"] == 0


def test_counters_are_written_in_the_background_within_seconds(tmp_path):
    stats = IngestStats(stats_dir(tmp_path))
    stats.add(Origin("otlp", "background", bytes=10), accepted=3)
    deadline = time.monotonic() + 10
    while not list(stats_dir(tmp_path).glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    snaps = read_snapshots(stats_dir(tmp_path), retire=False)     # read without asking the process to flush
    assert [r["accepted"] for s in snaps for r in s["rows"]] == [3]
    stats.close()


def test_a_forked_child_counts_only_its_own(tmp_path):
    stats = IngestStats(stats_dir(tmp_path))
    stats.add(Origin("native", "parent", bytes=1), accepted=5)
    pid = os.fork()
    if pid == 0:       # the child: the parent's 5 are not its own
        try:
            stats.add(Origin("native", "child", bytes=1), accepted=2)
            stats.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    status = ingest_status(tmp_path, stats=stats)
    assert {s["source"]: s["accepted"] for s in status["sources"]} == {"parent": 5, "child": 2}
    stats.close()
