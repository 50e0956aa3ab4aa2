"""The Elasticsearch-compatible subset (issue 15 item 2): the real elasticsearch-py and
opensearch-py clients (helpers.bulk, streaming_bulk) and Debian's rsyslog with omelasticsearch
against a real `platlogs serve`; every event found by the project's own search API, none twice.
Unit-level checks of auth, CSRF and the answers' shapes with Flask's test client."""
from __future__ import annotations

import base64
import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import requests
from elasticsearch import Elasticsearch, helpers as es_helpers
from opensearchpy import OpenSearch, helpers as os_helpers

from test_server_cli import cli_env, run_cli, server  # noqa: F401 (fixtures)

OMELASTICSEARCH = next(Path("/usr/lib").glob("*/rsyslog/omelasticsearch.so"), Path("/nonexistent"))
RSYSLOGD = os.environ.get("PLATLOGS_TEST_RSYSLOG") or shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def basic(key: str, user: str = "elastic") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def found(base: str, read_key: str, q: str) -> list[dict]:
    """Every event matching `q`, through the project's search API, page by page."""
    hits, cursor = [], None
    while True:
        params = {"q": q, "size": 1000, "from": "now-7d"}
        if cursor:
            params["cursor"] = cursor
        page = requests.get(base + "/api/v1/events", params=params, timeout=30,
                            headers={"Authorization": f"Bearer {read_key}"}).json()
        hits += page["hits"]
        cursor = page.get("next_cursor")
        if not cursor:
            return hits


@pytest.fixture
def live(server, cli_env):  # noqa: F811
    base, _ = server
    ingest = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    read = run_cli(cli_env, "keys", "create", "--scope", "read").stdout.strip()
    return base, ingest, read


def _actions(tag: str, count: int, start: int = 0):
    """index and create actions, with and without _id and _index, in turn."""
    for i in range(start, start + count):
        op = "create" if i % 2 else "index"
        action = {"_op_type": op, "_source": {"message": f"{tag} event {i}", "service": {"name": tag},
                                              "log": {"level": "info"}, "http": {"response": {"status_code": 200}}}}
        if i % 4 < 2:
            action["_id"] = f"{tag}-{i}"
        if i % 8 < 4:
            action["_index"] = f"{tag}-action"
        yield action


def test_elasticsearch_py_and_opensearch_py_bulk_2000_events_each_found_once(live):
    base, key, read = live
    es = Elasticsearch(base, api_key=("any-id", key), request_timeout=60)      # ApiKey base64(id:key)
    assert es.info()["tagline"] == "You Know, for Search"                       # its product check passed
    ok, errors = es_helpers.bulk(es, _actions("esbulk", 1000), index="es-path", chunk_size=300)
    assert (ok, errors) == (1000, [])
    opensearch = OpenSearch(base, http_auth=("whoever", key), timeout=60)       # Basic, key as password
    assert opensearch.info()["version"]["number"]
    results = list(os_helpers.streaming_bulk(opensearch, _actions("esbulk", 1000, start=1000), index="os-path",
                                             chunk_size=250))
    assert all(ok for ok, _ in results) and len(results) == 1000

    events = found(base, read, "service.name:esbulk")
    assert len(events) == 2000
    messages = [e["message"] for e in events]
    assert len(set(messages)) == 2000, "an event was stored twice"
    by_message = {e["message"]: e for e in events}
    for i in range(2000):
        event = by_message[f"esbulk event {i}"]
        assert event["http"]["response"]["status_code"] == 200 and event["log"]["level"] == "info"
        if i % 4 < 2:
            assert event["event"]["id"] == f"esbulk-{i}"
        path_index = "es-path" if i < 1000 else "os-path"
        assert event["labels"]["es_index"] == ("esbulk-action" if i % 8 < 4 else path_index)

    # the same batch again (those with an _id): nothing new; index answers 200 noop, create 409
    again = [a for a in _actions("esbulk", 1000) if "_id" in a]
    ok, errors = es_helpers.bulk(es, again, index="es-path", raise_on_error=False)
    assert ok == 250 and len(errors) == 250
    assert {(next(iter(e)), e[next(iter(e))]["status"]) for e in errors} == {("create", 409)}
    assert len(found(base, read, "service.name:esbulk")) == 2000


def test_a_bad_item_is_refused_alone_and_auth_forms(live):
    base, key, read = live
    docs = [{"_index": "mixed", "_source": {"message": f"mixed {i}", "service": {"name": "mixed"}}} for i in range(10)]
    docs[3]["_source"]["actor"] = {"type": "alien"}                         # not an actor type
    es = Elasticsearch(base, bearer_auth=key)                                 # Bearer
    ok, errors = es_helpers.bulk(es, docs, raise_on_error=False)
    assert ok == 9 and len(errors) == 1
    error = errors[0]["index"]
    assert error["status"] == 400 and "actor.type" in error["error"]["reason"]
    assert sorted(e["message"] for e in found(base, read, "service.name:mixed")) == \
        sorted(f"mixed {i}" for i in range(10) if i != 3)

    raw_apikey = requests.post(base + "/_bulk", timeout=10, data=b'{"index":{"_index":"k"}}\n{"message":"raw key"}\n',
                               headers={"Authorization": f"ApiKey {key}", "Content-Type": "application/x-ndjson"})
    assert raw_apikey.status_code == 200 and raw_apikey.json()["items"][0]["index"]["status"] == 201
    wrong = requests.post(base + "/_bulk", data=b'{"index":{"_index":"k"}}\n{"message":"x"}\n', timeout=10,
                          headers={**basic("plk_wrong"), "Content-Type": "application/x-ndjson"})
    assert wrong.status_code == 401 and wrong.headers["Content-Type"].startswith("application/json")
    assert "Basic" in wrong.headers["WWW-Authenticate"] and wrong.json()["error"]["type"] == "security_exception"
    assert "CSRF" not in wrong.text
    with pytest.raises(Exception) as refused:
        Elasticsearch(base, api_key="plk_wrong").info()
    assert getattr(refused.value, "status_code", None) == 401 or "401" in str(refused.value)
    unknown = requests.get(base + "/_no_such_api", headers=basic(key), timeout=10)
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("application/json")
    browser = requests.get(base + "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                                                "User-Agent": "Mozilla/5.0"}, allow_redirects=False, timeout=10)
    assert browser.status_code == 302 and "/login" in browser.headers["Location"]


@pytest.mark.skipif(not OMELASTICSEARCH.exists() and os.environ.get("PLATLOGS_CI") != "1",
                    reason="Debian's rsyslog-elasticsearch (omelasticsearch) is not installed (scripts/test installs it)")
def test_rsyslog_omelasticsearch(live, tmp_path):
    """A private rsyslog reads a file (imfile) and ships it with omelasticsearch in bulk mode,
    Basic auth with the key as password; every line found once."""
    base, key, read = live
    port = base.rsplit(":", 1)[1]
    lines = [f"rsyslog line {i} from the app" for i in range(300)]
    source = tmp_path / "app.log"
    source.write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    errors = tmp_path / "es-errors.json"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f'''
global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
template(name="es" type="string"
  string="{{\\"@timestamp\\":\\"%timegenerated:::date-rfc3339%\\",\\"message\\":\\"%msg:::json%\\",\\"service\\":{{\\"name\\":\\"rsyslog-es\\"}},\\"host\\":{{\\"name\\":\\"%hostname:::json%\\"}}}}")
input(type="imfile" file="{source}" tag="app:")
action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="es" searchIndex="rsyslog"
       searchType="" bulkmode="on" uid="rsyslog" pwd="{key}" errorFile="{errors}")
''')
    proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        events = []
        while time.monotonic() < deadline:
            events = found(base, read, "service.name:rsyslog-es")
            if len(events) >= len(lines) or proc.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert not errors.exists(), errors.read_text()
    assert sorted(e["message"] for e in events) == sorted(lines), output


# -- unit level: Flask's test client --------------------------------------------------------------

BULK = b'{"index":{"_index":"u","_id":"u-1"}}\n{"message":"one"}\n{"create":{"_index":"u"}}\n{"message":"two"}\n'


def test_basic_post_is_never_a_csrf_refusal(client, ingest_key, read_key):
    for path in ("/_bulk", "/u/_bulk"):
        response = client.post(path, data=BULK, headers={**basic(ingest_key), "Content-Type": "application/x-ndjson"})
        assert response.status_code == 200 and not response.json["errors"], response.data
    native = client.post("/api/v1/events/bulk", data=b'{"message":"native"}\n', headers=basic(ingest_key))
    assert native.status_code == 200 and native.json["accepted"] == 1
    read = client.get("/api/v1/events", headers=basic(read_key))
    assert read.status_code == 200 and read.json["total"]["value"] >= 3


def test_refusals_are_json(client, ingest_key, read_key):
    none = client.post("/_bulk", data=BULK)
    assert none.status_code == 401 and none.is_json and "WWW-Authenticate" in none.headers
    wrong = client.post("/_bulk", data=BULK, headers={"Authorization": "ApiKey " + base64.b64encode(b"id:nope").decode()})
    assert wrong.status_code == 401 and wrong.is_json and "CSRF" not in wrong.get_data(as_text=True)
    garbage = client.post("/_bulk", data=BULK, headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401 and garbage.is_json
    read_only = client.post("/_bulk", data=BULK, headers=basic(read_key))
    assert read_only.status_code == 403 and read_only.is_json
    for path in ("/_nothing_here", "/some-index", "/some-index/_mapping"):
        missing = client.get(path, headers={"Authorization": f"Bearer {ingest_key}",
                                            "Accept": "application/vnd.elasticsearch+json; compatible-with=8"})
        assert missing.status_code == 404 and missing.is_json, path
    api = client.get("/api/v1/nothing", headers=basic(ingest_key))
    assert api.status_code == 404 and api.is_json
    # on the JSON API, no Basic challenge unless Basic was tried (a browser's fetch would open a dialog)
    assert "Basic" not in client.get("/api/v1/events").headers["WWW-Authenticate"]


def test_root_answers_clients_and_keeps_the_back_office_for_browsers(client, ingest_key, read_key):
    es_headers = {"Authorization": f"ApiKey {ingest_key}",
                  "Accept": "application/vnd.elasticsearch+json; compatible-with=8",
                  "User-Agent": "elasticsearch-py/8.15.0 (Python/3.11.2; elastic-transport/8.15.0)"}
    root = client.get("/", headers=es_headers)
    assert root.status_code == 200 and root.headers["X-Elastic-Product"] == "Elasticsearch"
    assert root.json["version"]["number"] == "8.15.0" and root.json["version"]["build_flavor"] == "default"
    assert client.head("/", headers=es_headers).status_code == 200
    beats = client.get("/", headers={**basic(read_key), "User-Agent": "Elastic-Filebeat/8.14.3 (linux; amd64)"})
    assert beats.json["version"]["number"] == "8.14.3"
    assert client.get("/", headers={"Authorization": "Bearer plk_nope"}).status_code == 401
    for browser in ({}, {"Accept": "text/html,*/*", "User-Agent": "Mozilla/5.0"},
                    {"Accept": "text/html,*/*", **basic(ingest_key)}):      # a proxy's Basic sign-in too
        page = client.get("/", headers=browser)
        assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_start_up_calls(client, ingest_key):
    headers = {"Authorization": f"Bearer {ingest_key}"}
    assert client.get("/_cat/health", headers=headers).get_data(as_text=True).split()[3] == "green"
    assert client.get("/_cat/health?format=json", headers=headers).json[0]["status"] == "green"
    assert client.get("/_cluster/health", headers=headers).json["status"] == "green"
    assert client.get("/_license", headers=headers).json["license"]["status"] == "active"
    assert client.get("/_xpack", headers=headers).json["features"]["ilm"]["enabled"] is False
    for path in ("/_index_template/filebeat-8", "/_template/logstash", "/_ilm/policy/logstash-policy"):
        assert client.get(path, headers=headers).status_code == 404
        assert client.head(path, headers=headers).status_code == 404
        put = client.put(path, json={"index_patterns": ["x-*"]}, headers=headers)
        assert put.status_code == 200 and put.json == {"acknowledged": True}
        assert put.headers["X-Elastic-Product"] == "Elasticsearch"


def test_bulk_answers_item_by_item(client, ingest_key):
    headers = {**basic(ingest_key), "Content-Type": "application/x-ndjson"}
    body = b"\n".join([
        b'{"index":{"_index":"a","_id":"same"}}', b'{"message":"first"}',
        b'{"create":{"_index":"a","_id":"same"}}', b'{"message":"again"}',
        b'{"index":{"_index":"a","_id":"same"}}', b'{"message":"again"}',
        b'{"update":{"_index":"a","_id":"same"}}', b'{"doc":{"message":"x"}}',
        b'{"delete":{"_index":"a","_id":"same"}}',
        b'{"index":{"_index":"a"}}', b'{"message":"a","message":"b"}',
        b'{"index":{"_index":"a"}}', b'not json',
        b'{"index":{}}', b'{"message":"no index"}',
        b'{"index":{"_index":"a","_id":"last"}}', b'{"message":"stored", "event": {"id": "overridden"}}',
    ]) + b"\n"
    answer = client.post("/_bulk?refresh=true&pipeline=x&routing=y", data=gzip.compress(body),
                         headers={**headers, "Content-Encoding": "gzip"}).json
    statuses = [(op, item["status"]) for entry in answer["items"] for op, item in entry.items()]
    assert statuses == [("index", 201), ("create", 409), ("index", 200), ("update", 400), ("delete", 400),
                        ("index", 400), ("index", 400), ("index", 400), ("index", 201)]
    assert answer["errors"] is True and answer["items"][2]["index"]["result"] == "noop"
    assert "given twice" in answer["items"][5]["index"]["error"]["reason"]
    assert answer["items"][8]["index"]["_id"] == "last"
    created = answer["items"][0]["index"]
    assert created["_id"] == "same" and created["_index"] == "a" and created["result"] == "created"
    plain = client.post("/b/_bulk", data=b'{"create":{}}\n{"message":"id assigned"}\n', headers=headers).json
    item = plain["items"][0]["create"]
    assert item["status"] == 201 and item["_index"] == "b" and len(item["_id"]) == 26   # the assigned ULID


def test_machine_paths_are_defined_once():
    from app.machine import machine_path
    for path in ("/api/v1/events", "/v1/logs", "/_bulk", "/logs/_bulk", "/_cat/health", "/x/_mapping"):
        assert machine_path(path), path
    for path in ("/", "/login", "/search", "/events/x", "/static/app.css", "/alerts/rules/new"):
        assert not machine_path(path), path


def test_rsyslog_is_installed_in_ci():
    if os.environ.get("PLATLOGS_CI") == "1":
        assert OMELASTICSEARCH.exists() and Path(RSYSLOGD).exists(), "scripts/test installs rsyslog-elasticsearch"


def test_a_proxys_basic_sign_in_is_not_taken_for_a_key(signed_in, ingest_key):
    """Behind a reverse proxy with its own Basic sign-in, the browser sends that Authorization on
    every request: the back office's session still counts, on pages and on their API calls."""
    proxy = basic("proxy-password", user="proxy-user")   # (a password that is not one of our keys)
    assert signed_in.get("/api/v1/events", headers=proxy).status_code == 200
    assert signed_in.get("/", headers={**proxy, "Accept": "text/html"}).status_code == 200
    refused = signed_in.post("/_bulk", data=BULK, headers=proxy)
    assert refused.status_code in (400, 401) and refused.is_json          # never stored on a session
    assert "Basic" in signed_in.post("/_bulk", data=BULK, headers=basic("plk_wrong")).headers["WWW-Authenticate"]


NOW = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
# _bulk bodies exactly as each shipper's Elasticsearch output sends them by default (their
# binaries are not available here): the action line and the source of one event
SHIPPER_BODIES = {
    "filebeat-8": ({"create": {"_index": "filebeat-app"}},
                   {"@timestamp": NOW, "message": "GET /cashier 200 fb-text", "log": {"offset": 123, "file": {"path": "/var/log/nginx/access.log"}},
                    "input": {"type": "filestream"}, "ecs": {"version": "8.0.0"}, "host": {"name": "web-1"},
                    "agent": {"type": "filebeat", "version": "8.14.3", "ephemeral_id": "a0b1", "id": "c2d3", "name": "web-1"}}),
    "logstash-8-ecs": ({"index": {"_index": "logstash-app"}},
                       {"@timestamp": NOW, "@version": "1", "message": "payment failed ls-text", "host": {"name": "web-1"},
                        "log": {"file": {"path": "/var/log/app.log"}}, "event": {"original": "payment failed ls-text"}}),
    "logstash-legacy": ({"index": {"_index": "logstash-2026.12.03", "_type": "_doc"}},
                        {"@timestamp": NOW, "@version": "1", "message": "legacy ll-text", "host": "web-1", "path": "/var/log/app.log"}),
    "vector": ({"index": {"_index": "vector-app"}},
               {"message": "hello vc-text", "timestamp": NOW, "host": "web-1", "source_type": "file", "file": "/var/log/app.log"}),
    "fluent-bit": ({"create": {"_index": "fluent-bit"}}, {"@timestamp": NOW, "log": "line fb2-text", "stream": "stdout"}),
}


@pytest.mark.parametrize("shipper", SHIPPER_BODIES)
def test_shippers_default_bulk_bodies_are_stored(client, ingest_key, read_key, shipper):
    action, source = SHIPPER_BODIES[shipper]
    body = orjson.dumps(action) + b"\n" + orjson.dumps(source) + b"\n"
    answer = client.post("/_bulk", data=body, headers={**basic(ingest_key), "Content-Type": "application/x-ndjson"}).json
    (op, item), = answer["items"][0].items()
    assert item["status"] == 201, item
    event = client.get(f"/api/v1/events/{item['_id']}", headers={"Authorization": f"Bearer {read_key}"}).json
    index = next(iter(action.values()))["_index"]
    assert event["labels"]["es_index"] == index
    text = next(v for k, v in source.items() if k in ("message", "log"))
    assert text in orjson.dumps(event).decode()


def test_a_bulk_body_is_bounded(client, ingest_key, monkeypatch):
    from app.ingest import es_views
    monkeypatch.setattr(es_views, "MAX_BULK_BYTES", 300)
    headers = {**basic(ingest_key), "Content-Type": "application/x-ndjson"}
    pair = b'{"index":{"_index":"big"}}\n{"message":"a line of some length, repeated"}\n'
    assert client.post("/_bulk", data=pair * 10, headers=headers).status_code == 413      # Content-Length says so
    streamed = client.post("/_bulk", data=gzip.compress(pair * 10), headers={**headers, "Content-Encoding": "gzip"}).json
    statuses = [next(iter(item.values()))["status"] for item in streamed["items"]]
    assert statuses[-1] == 413 and set(statuses[:-1]) == {201} and len(statuses) < 10


@pytest.mark.parametrize("source,expected", [
    (b'{}', {}),
    (b'  { "message" : "spaces" }  ', {"message": "spaces"}),
    (b'{"labels":{"team":"a"},"message":"m"}', {"message": "m", "labels": {"team": "a"}}),
    (b'{"event":{"action":"login"},"message":"has event"}', {"message": "has event"}),
    (b'{"message":"mentions \\"labels\\" and \\"event\\" in a value"}', {}),
    (b'{"\\u006cabels":{"x":"y"},"message":"escaped key"}', None),          # refused: labels given twice
    (b'{"message":"x","message":"y"}', None),                                 # refused: given twice
    (b'[1, 2]', None), (b'{"message": }', None), (b'"text"', None),
])
def test_a_source_gets_its_id_and_index_whatever_its_spelling(client, ingest_key, read_key, source, expected):
    body = b'{"index":{"_index":"spell","_id":"spell-1"}}\n' + source + b"\n"
    item = client.post("/_bulk", data=body, headers=basic(ingest_key)).json["items"][0]["index"]
    if expected is None:
        assert item["status"] == 400, item
        return
    assert item["status"] == 201 and item["_id"] == "spell-1", item
    event = client.get("/api/v1/events/spell-1", headers={"Authorization": f"Bearer {read_key}"}).json
    assert event["event"]["id"] == "spell-1" and event["labels"]["es_index"] == "spell"
    for key, value in expected.items():
        assert event[key] == value if key != "labels" else event["labels"]["team"] == "a"


def test_bulk_outcomes_on_every_store(store_url, tmp_path):
    """Created, a re-sent _id (create 409, index noop) and a refusal, on each backend (the
    `store_url` fixture: tantivy, sqlite, OpenSearch): duplicates are found by the store."""
    from app import create_app
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_STORE": store_url})
    try:
        key = app.extensions["platlogs"].meta.create_key("t", ["ingest"])[1]
        client = app.test_client()
        body = (b'{"create":{"_index":"b","_id":"once-1"}}\n{"message":"first"}\n'
                b'{"index":{"_index":"b"}}\n{"message":"no id"}\n'
                b'{"index":{"_index":"b"}}\n{"actor":{"type":"alien"}}\n')
        first = client.post("/_bulk", data=body, headers=basic(key)).json
        assert [next(iter(i.values()))["status"] for i in first["items"]] == [201, 201, 400]
        again = (b'{"create":{"_index":"b","_id":"once-1"}}\n{"message":"first"}\n'
                 b'{"index":{"_index":"b","_id":"once-1"}}\n{"message":"first"}\n')
        second = client.post("/_bulk", data=again, headers=basic(key)).json
        assert [next(iter(i.values()))["status"] for i in second["items"]] == [409, 200]
        assert app.extensions["platlogs"].store.get("once-1")["message"] == "first"
    finally:
        app.extensions["platlogs"].close()
