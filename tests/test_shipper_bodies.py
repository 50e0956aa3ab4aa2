"""Request bodies shaped exactly like the shippers' documented defaults (their binaries are not
available here), plain text lines and plain log files: accepted through the real ingest path
into a real store (tantivy, and OpenSearch for the template's mappings), and found by the search
API under the field names users know (issue 15 items 4 and 5)."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys

import orjson
import pytest

from conftest import store_url_for

WINDOW = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-05T00:00:00Z"}
BLOCK = "blk_-6575095350281965251"      # Luhn-valid digits: once rewritten as a card number


@pytest.fixture(params=["tantivy", "opensearch"])
def env(request, tmp_path):
    return {"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": store_url_for(request.param, tmp_path, request)}


def _refresh(services):
    refresh = getattr(services.store, "refresh", None)
    if refresh:
        refresh()


def search(client, headers, services, q: str, **params) -> dict:
    _refresh(services)
    response = client.get("/api/v1/search", query_string={**WINDOW, "q": q, "size": 100, **params}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def total(client, headers, services, q: str) -> int:
    return search(client, headers, services, q)["total"]["value"]


# -- Fluent Bit: out_http, format json_lines (and json), json_date_key `date` as a float epoch ---------

FLUENT_BIT = [
    {"date": 1796292687.123456, "log": "2026-12-03 10:11:27,123 ERROR [main] c.p.Wallet - debit failed for p-77\n",
     "stream": "stderr", "time": "2026-12-03T10:11:27.123456789Z",
     "kubernetes": {"pod_name": "wallet-7d9f", "namespace_name": "payments", "pod_id": "5b1c2e3f-aaaa",
                    "host": "node-3", "container_name": "wallet", "docker_id": "0f1e2d",
                    "container_hash": "registry/wallet@sha256:ab12", "container_image": "registry/wallet:1.4",
                    "labels": {"app": "wallet", "pod-template-hash": "7d9f"}}},
    {"date": 1796292688.5, "log": "wallet ready", "stream": "stdout",
     "kubernetes": {"pod_name": "wallet-7d9f", "namespace_name": "payments", "host": "node-3"}},
]


def test_fluent_bit_json_lines(client, ingest_headers, read_headers, services):
    body = b"".join(orjson.dumps(r) + b"\n" for r in FLUENT_BIT)
    answer = client.post("/api/v1/events/bulk", data=body, headers={**ingest_headers, "Content-Type": "application/json"})
    assert answer.json == {"accepted": 2, "rejected": 0, "duplicates": 0, "errors": []}
    found = search(client, read_headers, services, "kubernetes.pod.name:wallet-7d9f", facets="kubernetes.namespace")
    assert found["total"]["value"] == 2
    assert found["facets"]["kubernetes.namespace"][0]["value"] == "payments"
    first = [h for h in found["hits"] if "debit" in h["message"]][0]
    assert first["@timestamp"] == "2026-12-03T10:11:27.123Z" and first["kubernetes"]["node"]["name"] == "node-3"
    assert total(client, read_headers, services, "debit") == 1


def test_fluent_bit_json_array(client, ingest_headers, read_headers, services):
    answer = client.post("/api/v1/events", json=FLUENT_BIT, headers=ingest_headers)
    assert answer.status_code == 200 and answer.json["accepted"] == 2
    assert total(client, read_headers, services, "kubernetes.node.name:node-3") == 2


# -- Vector: http sink, codec json, ndjson framing --------------------------------------------------

def test_vector_http_sink(client, ingest_headers, read_headers, services):
    records = [{"file": "/var/log/nginx/access.log", "host": "web-1",
                "message": '203.0.113.9 - - [03/Dec/2026:10:11:27 +0000] "GET /lobby HTTP/1.1" 200 512 "-" "curl/8.5"',
                "source_type": "file", "timestamp": "2026-12-03T10:11:27.123456789Z"},
               {"host": "web-1", "message": "upstream timed out", "source_type": "journald",
                "timestamp": "2026-12-03T10:11:28Z", "SYSLOG_IDENTIFIER": "nginx", "PRIORITY": "3"}]
    body = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records))
    answer = client.post("/api/v1/events/bulk", data=body,
                         headers={**ingest_headers, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert answer.json["accepted"] == 2, answer.json
    assert total(client, read_headers, services, "host.name:web-1") == 2
    hits = search(client, read_headers, services, 'log.file.path:"/var/log/nginx/access.log"')["hits"]
    assert len(hits) == 1 and hits[0]["@timestamp"] == "2026-12-03T10:11:27.123Z"
    # the record as sent is personal as a whole: a read key without see_personal sees it masked
    assert hits[0]["event"]["original"] == "{***" and "event.original" in hits[0]["_masked"]
    assert total(client, read_headers, services, "203.0.113.9") == 1


# -- Logstash: http output, format json_batch (ECS on, and the legacy shape) -----------------------

def test_logstash_json_batch(client, ingest_headers, read_headers, services):
    batch = [{"@timestamp": "2026-12-03T10:11:27.123Z", "@version": "1", "message": "job done",
              "host": {"name": "ls-1"}, "log": {"file": {"path": "/var/log/jobs.log"}},
              "event": {"original": "job done", "dataset": "jobs.log"}},
             {"@timestamp": "2026-12-03T10:11:28.000Z", "@version": "1", "message": "job started", "host": "ls-1",
              "path": "/var/log/jobs.log", "type": "jobs"}]
    answer = client.post("/api/v1/events", data=orjson.dumps(batch),
                         headers={**ingest_headers, "Content-Type": "application/json"})
    assert answer.json["accepted"] == 2, answer.json
    assert total(client, read_headers, services, "host.name:ls-1") == 2
    assert total(client, read_headers, services, "event.dataset:jobs.log") == 1


# -- Filebeat: ECS documents (system module, auth log) ---------------------------------------------

FILEBEAT = {
    "@timestamp": "2026-12-03T10:11:27.123Z",
    "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.11.0"},
    "log": {"offset": 1234, "file": {"path": "/var/log/auth.log"}, "level": "info"},
    "message": "Failed password for invalid user admin from 198.51.100.23 port 52144 ssh2",
    "input": {"type": "log"}, "ecs": {"version": "8.0.0"},
    "host": {"name": "bastion-1", "hostname": "bastion-1", "ip": ["10.0.0.5", "fe80::1"], "mac": ["02-42-AC-11-00-02"],
             "architecture": "x86_64", "os": {"family": "debian", "name": "Debian GNU/Linux", "version": "12"}},
    "agent": {"type": "filebeat", "version": "8.11.0", "name": "bastion-1", "id": "2f0e", "ephemeral_id": "9a1b"},
    "event": {"dataset": "system.auth", "module": "system", "kind": "event", "category": ["authentication"],
              "type": ["start"], "outcome": "failure"},
    "user": {"name": "admin"}, "source": {"ip": "198.51.100.23", "port": 52144},
    "process": {"name": "sshd", "pid": 2412}, "service": {"type": "system"},
}


def test_filebeat_ecs_documents(client, ingest_headers, read_headers, services):
    answer = client.post("/api/v1/events/bulk", data=orjson.dumps(FILEBEAT) + b"\n",
                         headers={**ingest_headers, "Content-Type": "application/x-ndjson"})
    assert answer.json["accepted"] == 1, answer.json
    for q in ("event.dataset:system.auth", "event.category:authentication", "event.ecs_type:start",
              "user.name:admin", "source.port:52144", "process.pid:2412", "process.name:sshd",
              "host.ip:10.0.0.5", "host.hostname:bastion-1", 'log.file.path:"/var/log/auth.log"',
              "event.outcome:failure", "198.51.100.23"):
        assert total(client, read_headers, services, q) == 1, q
    facets = search(client, read_headers, services, "*", facets="event.dataset,process.name")["facets"]
    assert facets["event.dataset"][0] == {"value": "system.auth", "count": 1, "selected": False}


# -- plain text lines ------------------------------------------------------------------------------

LINES = [
    "Dec  3 10:11:27 bastion-1 sshd[2412]: Invalid user oracle from 203.0.113.77 port 40022",
    f"081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block {BLOCK} src: /10.250.19.102:54106 "
    "dest: /10.250.19.102:50010",
    '198.51.100.4 - - [03/Dec/2026:10:11:29 +0000] "GET /api/v1/rounds/r-123 HTTP/1.1" 200 77 "-" "okhttp/4"',
    "[Thu Dec 03 10:11:30.123456 2026] [proxy:error] [pid 311] (111)Connection refused: AH00957: backend down",
    "plain words without a time \x1b[31mred\x1b[0m",
]


def test_text_plain_bulk_body(client, ingest_headers, read_headers, services):
    body = ("\n".join(LINES) + "\n").encode() + b"bad utf-8 \xff here\n"
    answer = client.post("/api/v1/events/bulk", data=body, headers={**ingest_headers, "Content-Type": "text/plain"})
    assert answer.json == {"accepted": 6, "rejected": 0, "duplicates": 0, "errors": []}
    assert search(client, read_headers, services, "203.0.113.77")["hits"][0]["@timestamp"] == "2026-12-03T10:11:27.000Z"
    hdfs = search(client, read_headers, services, BLOCK, **{"from": "2008-01-01T00:00:00Z"})["hits"]
    # (a read key sees addresses in text masked; the block id is whole)
    assert len(hdfs) == 1 and BLOCK in hdfs[0]["message"] and hdfs[0]["@timestamp"] == "2008-11-09T20:35:18.000Z"
    assert search(client, read_headers, services, "198.51.100.4")["hits"][0]["@timestamp"] == "2026-12-03T10:11:29.000Z"
    assert search(client, read_headers, services, "AH00957")["hits"][0]["@timestamp"] == "2026-12-03T10:11:30.123Z"
    now = {"from": "now-1h", "to": "now+1h"}
    plain = search(client, read_headers, services, "without", **now)["hits"]
    assert plain[0]["message"] == "plain words without a time \\x1b[31mred\\x1b[0m"
    assert "timestamp_assigned" in plain[0]["tags"]
    assert len(search(client, read_headers, services, "utf", **now)["hits"]) == 1


# -- platlogs ingest of a plain log file ------------------------------------------------------------

def test_cli_ingests_a_plain_log_file(tmp_path, env, client, read_headers, services):
    path = tmp_path / "auth.log"
    path.write_text("\n".join(LINES[:4]) + "\n")
    cli_env = {**os.environ, **env}
    services.close()   # the CLI writes to the same store: no other writer open meanwhile
    result = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(path)], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "accepted 4 (0 already stored), rejected 0" in result.stdout
    from app import create_app
    app = create_app(env)
    try:
        s = app.extensions["platlogs"]
        c = app.test_client()
        key = s.meta.create_key("r", ["read"])[1]
        headers = {"Authorization": f"Bearer {key}"}
        hits = search(c, headers, s, f'log.file.path:"{path.resolve()}"', **{"from": "2008-01-01T00:00:00Z"})["hits"]
        assert len(hits) == 4 and sum(BLOCK in h["message"] for h in hits) == 1
        assert {h["@timestamp"][:4] for h in hits} == {"2008", "2026"}
    finally:
        app.extensions["platlogs"].close()
