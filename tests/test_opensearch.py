"""What only the OpenSearch backend has: templates from the schema, bulk splitting, retries on
throttling and broken connections (through a real fault-injecting HTTP proxy in front of the
real node), per-item failures, point-in-time paging. The shared contract is in test_store.py."""
from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from app.events.convert import format_ts
from app.query import parse
from app.storage import SearchRequest, open_store
from app.storage import opensearch_templates as templates
from app.storage.opensearch import OpenSearchStore, decode_cursor, encode_cursor

DAY0 = 1_794_960_000_000  # 2026-11-18T00:00:00Z


def event(ts_ms: int, eid: str, component: str = "system", client_id: bool = False, **extra) -> dict:
    return {"@timestamp": format_ts(ts_ms), "event": {"id": eid, "component": component, "type": "other"},
            "_ts": ts_ms, **({"_client_id": True} if client_id else {}), **extra}


def test_the_committed_common_template_is_generated_from_the_schema():
    committed = json.loads((templates.template_dir() / "platlogs-common.json").read_text())
    assert committed == templates.common_template(committed["version"]), \
        "index_templates/platlogs-common.json is stale: run `platlogs templates --write`"


def test_every_component_has_a_template_and_a_retention_policy():
    from app.events.schema import load_schema
    components = set(load_schema().components)
    assert {name.removeprefix("platlogs-") for name in templates.component_templates()} == components
    days = templates.retention_days()
    assert set(days) == components and all(d >= 1 for d in days.values())


@pytest.fixture
def os_store(store_url_os):
    store = open_store(store_url_os)
    yield store
    store.close()


@pytest.fixture
def store_url_os(request, tmp_path):
    from conftest import store_url_for
    return store_url_for("opensearch", tmp_path, request)


def test_templates_are_installed_once_per_version(os_store, store_url_os):
    client = os_store.client
    name = f"{os_store.prefix}-common"
    version = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]["version"]
    assert version == templates.template_version()
    # someone changed the installed template by hand: a restart with the same version keeps theirs
    body = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    body["_meta"]["description"] = "edited on the cluster"
    client.cluster.put_component_template(name=name, body=body)
    open_store(store_url_os).close()
    kept = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    assert kept["_meta"]["description"] == "edited on the cluster"
    # an older version on the cluster is replaced
    body["version"] = version - 1
    client.cluster.put_component_template(name=name, body=body)
    open_store(store_url_os).close()
    now = client.cluster.get_component_template(name=name)["component_templates"][0]["component_template"]
    assert now["version"] == version and now["_meta"]["description"] != "edited on the cluster"


def generation(store, component: str) -> str:
    """The name of a component's (only) generation."""
    names = [r["index"] for r in store._index_rows() if r["index"].startswith(f"{store.prefix}-{component}-g")]
    assert len(names) == 1, names
    return names[0]


def test_a_generation_per_component_with_its_mappings_and_day_partitions(os_store):
    result = os_store.write([event(DAY0 + 5, "a", "api", url={"path": "/api/v1/x"}),
                             event(DAY0 + 86_400_000, "b", "integration"), event(DAY0 + 7, "c", "api")])
    assert result.stored == 3
    api, integration = generation(os_store, "api"), generation(os_store, "integration")
    names = {p.name: p.events for p in os_store.partitions()}
    assert names == {f"{api}/2026.11.18": 2, f"{integration}/2026.11.19": 1}
    aliases = os_store.client.indices.get_alias(index=api)[api]["aliases"]
    assert aliases == {f"{os_store.prefix}-events": {}, f"{os_store.prefix}-api-write": {"is_write_index": True}}
    mapping = os_store.client.indices.get_mapping(index=api)
    props = next(iter(mapping.values()))["mappings"]["properties"]
    assert props["message"]["type"] == "text" and props["actor"]["properties"]["ip"]["fields"]["ip"]["type"] == "ip"
    assert props["labels"]["type"] == "flat_object"
    assert props["url"]["properties"]["path"]["fields"]["tree"]["analyzer"] == "platlogs_path"   # api's own
    assert templates.SEARCH not in os_store.get("a")   # an index-only field never comes back


def test_free_form_fields_never_grow_the_mapping(os_store):
    labels = {f"key_{i}": f"v{i}" for i in range(300)}
    os_store.write([event(DAY0, "many", labels=labels, custom={f"f{i}": i for i in range(300)})])
    index = generation(os_store, "system")
    props = next(iter(os_store.client.indices.get_mapping(index=index).values()))["mappings"]["properties"]
    assert "custom" not in props and props["labels"] == {"type": "flat_object"}
    assert os_store.get("many")["custom"]["f299"] == 299   # kept in the document all the same
    hits = os_store.search(SearchRequest(query=parse("labels.key_123:v123"))).hits
    assert [h["event"]["id"] for h in hits] == ["many"]


def test_one_bad_item_is_refused_and_the_rest_stored(os_store):
    result = os_store.write([event(DAY0, "ok-1"), event(DAY0, "bad", service={"name": {"nested": "object"}}),
                             event(DAY0, "ok-2"), event(DAY0, "odd", component="nonsense")])
    assert result.stored == 2 and not result.failed
    assert [pos for pos, _ in result.refused] == [1, 3]
    assert "mapper_parsing_exception" in result.refused[0][1] and "nonsense" in result.refused[1][1]


class FaultProxy:
    """A real HTTP proxy in front of the node: answers 429 or drops the connection for the first
    `faults` bulk requests, forwards everything else, and counts bulk requests and their items."""

    def __init__(self, target: str, faults: list[str], tls=None, credentials: str | None = None):
        self.target = urlsplit(target)
        self.credentials = credentials   # "user:password" the proxy demands (basic auth), like a secured cluster
        self.faults = list(faults)
        self.bulk_requests: list[int] = []
        self.down = False   # when set, every request's connection is dropped (the cluster went away)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.down:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if proxy.credentials:
                    import base64
                    expected = "Basic " + base64.b64encode(proxy.credentials.encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        payload = b'{"error":"Unauthorized","status":401}'
                        self.send_response(401)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                # the events' bulk requests (the rollups' bulk updates that follow a stored batch,
                # opensearch_rollups.py, pass untouched)
                if self.path.startswith("/_bulk") and b'{"create"' in body:
                    proxy.bulk_requests.append(body.count(b'{"create"'))
                    fault = proxy.faults.pop(0) if proxy.faults else None
                    if fault == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if fault == "429":
                        payload = b'{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":429}'
                        self.send_response(429)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self):
        self.down = True
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxied(store_url_os, opensearch_url):
    """(store through a fault proxy, proxy): faults are set per test."""
    proxy = FaultProxy(opensearch_url, [])
    url = urlsplit(store_url_os)
    store = OpenSearchStore.from_url(f"opensearch://127.0.0.1:{proxy.port}?{url.query}", backoff_s=0.01,
                                     max_bulk_docs=7, max_bulk_bytes=4000)
    yield store, proxy
    store.close()
    proxy.close()


def test_bulk_requests_are_split_by_count_and_bytes(proxied):
    store, proxy = proxied
    events = [event(DAY0 + i, f"s{i}", message="x" * (1500 if i % 10 == 0 else 10)) for i in range(50)]
    result = store.write(events)
    assert result.stored == 50 and not result.failed
    assert sum(proxy.bulk_requests) == 50 and max(proxy.bulk_requests) <= 7 and len(proxy.bulk_requests) >= 8
    assert store.count() == 50


@pytest.mark.parametrize("faults", [["429", "429"], ["drop"], ["429", "drop", "429"]])
def test_throttling_and_broken_connections_are_retried_without_duplicates(proxied, faults):
    store, proxy = proxied
    proxy.faults = list(faults)
    result = store.write([event(DAY0 + i, f"r{i}") for i in range(5)])
    assert result.stored == 5 and not result.failed and not result.duplicates
    assert len(proxy.bulk_requests) == len(faults) + 1
    assert store.count() == 5


def test_retries_give_up_with_a_reason_per_item(proxied):
    store, proxy = proxied
    proxy.faults = ["429"] * 10
    result = store.write([event(DAY0, "g1"), event(DAY0, "g2")])
    assert result.stored == 0 and [pos for pos, _ in result.failed] == [0, 1]
    assert "overloaded" in result.failed[0][1]


def test_deep_paging_reads_one_snapshot(os_store):
    os_store.write([event(DAY0 + i * 1000, f"p{i:03d}") for i in range(30)])
    first = os_store.search(SearchRequest(size=10, newest_first=False, total_bound=0))
    assert decode_cursor(first.next_cursor, False)[2] is None   # one page: no snapshot is opened
    second = os_store.search(SearchRequest(size=10, newest_first=False, total_bound=0, cursor=first.next_cursor))
    pit = decode_cursor(second.next_cursor, False)[2]
    assert pit   # from page 2 on, a point in time
    os_store.write([event(DAY0 + 25_500, "arrived-late")])   # after the snapshot: not in its pages
    third = os_store.search(SearchRequest(size=10, newest_first=False, total_bound=0, cursor=second.next_cursor))
    ids = [h["event"]["id"] for h in first.hits + second.hits + third.hits]
    assert ids == [f"p{i:03d}" for i in range(30)] and third.next_cursor is None
    # an expired or unknown snapshot: paging goes on from the cursor's place without one
    ts, eid, _ = decode_cursor(first.next_cursor, False)
    stale = encode_cursor(ts, eid, False, pit="bm90LWEtcGl0")
    again = os_store.search(SearchRequest(size=100, newest_first=False, total_bound=0, cursor=stale))
    assert [h["event"]["id"] for h in again.hits][:3] == ["p010", "p011", "p012"] and len(again.hits) == 21


def test_an_unreachable_cluster_is_a_store_error():
    from app.storage import StoreError
    with pytest.raises(StoreError, match="unreachable"):
        open_store("opensearch://127.0.0.1:9?prefix=nowhere")


def test_a_cluster_that_goes_away_answers_503_not_500(store_url_os, opensearch_url, tmp_path):
    from app import create_app
    proxy = FaultProxy(opensearch_url, [])
    query = urlsplit(store_url_os).query
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path),
                      "PLATLOGS_STORE": f"opensearch://127.0.0.1:{proxy.port}?{query}"})
    services = app.extensions["platlogs"]
    key = services.meta.create_key("r", ["read", "ingest"])[1]
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    assert client.post("/api/v1/events", json={"message": "before"}, headers=headers).status_code == 200
    proxy.close()
    search = client.get("/api/v1/search", query_string={"q": "before"}, headers=headers)
    assert search.status_code == 503 and "cannot answer now" in search.json["error"]["message"]
    ingest = client.post("/api/v1/events", json={"message": "during"}, headers=headers)
    assert ingest.status_code == 503 and "unreachable" in ingest.json["errors"][0]["reason"]
    assert search.headers["Retry-After"].isdigit() and ingest.headers["Retry-After"].isdigit()
    assert client.get("/api/v1/health").status_code == 503
    services.close()


def test_retention_per_component_without_ism(os_store):
    assert os_store.has_ism is False   # the embedded test node has no ISM plugin: the app deletes
    os_store.write([event(DAY0, "api-old", "api"), event(DAY0, "admin-old", "admin_action"),
                    event(DAY0 + 40 * 86_400_000, "api-new", "api")])
    dropped = os_store.drop_expired(DAY0 + 45 * 86_400_000, {"api": 30, "admin_action": 1825})
    assert dropped == [f"{generation(os_store, 'api')}/2026.11.18"]   # deleted by query: the newest generation stays
    assert os_store.get("api-old") is None and os_store.get("admin-old") and os_store.get("api-new")


def test_a_backfill_over_many_days_is_searchable_at_once(os_store):
    """Writes to hundreds of daily indices: the refresh before the next read must still fit a URL."""
    os_store.write([event(DAY0 - d * 86_400_000, f"b{d}", component) for d in range(40)
                    for component in ("api", "system", "integration")])
    assert os_store.count() == 120 and len(os_store.partitions()) == 120


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl), as a secured cluster's demo certificate."""
    import subprocess
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def secured(certificate, opensearch_url, store_url_os):
    """The real node behind TLS and basic auth (user admin): (URL base, query)."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    proxy = FaultProxy(opensearch_url, [], tls=context, credentials="admin:S3cret-pass")
    yield f"opensearch+https://127.0.0.1:{proxy.port}", urlsplit(store_url_os).query
    proxy.close()


def test_tls_and_basic_auth(secured, certificate, tmp_path):
    from app import create_app
    base, query = secured
    password_file = tmp_path / "password"
    password_file.write_text("S3cret-pass\n")
    app = create_app({"PLATLOGS_DATA_DIR": str(tmp_path), "PLATLOGS_STORE": f"{base}?{query}",
                      "PLATLOGS_STORE_USERNAME": "admin", "PLATLOGS_STORE_PASSWORD_FILE": str(password_file),
                      "PLATLOGS_STORE_CA_FILE": str(certificate[0])})
    store = app.extensions["platlogs"].store
    assert store.write([event(DAY0, "over-tls")]).stored == 1
    assert store.get("over-tls")["event"]["id"] == "over-tls"
    app.extensions["platlogs"].close()
    # without checking the certificate (a demo certificate): still works
    insecure = open_store(f"{base}?{query}", username="admin", password="S3cret-pass", verify_tls=False)
    assert insecure.get("over-tls") is not None
    insecure.close()


@pytest.mark.parametrize("options, words", [
    ({"username": "admin", "password": "wrong"}, "refused the credentials"),
    ({}, "refused the credentials"),
    ({"username": "admin", "password": "S3cret-pass"}, "certificate"),   # no CA given: not trusted
])
def test_bad_credentials_or_untrusted_certificates_are_clear_errors(secured, certificate, options, words):
    from app.storage import StoreError
    base, query = secured
    if words != "certificate":
        options = {**options, "ca_file": certificate[0]}
    with pytest.raises(StoreError, match=words):
        open_store(f"{base}?{query}", **options)
