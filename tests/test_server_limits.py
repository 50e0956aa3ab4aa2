"""Issue 11 against a real `platlogs serve`: long URLs are answered in JSON, by the app where it
can (PLATLOGS_MAX_URL_BYTES) and by gunicorn's worker beyond its own request-line limit."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from test_server_cli import cli_env, run_cli, server  # noqa: F401 (fixtures)


@pytest.fixture
def read_key(server, cli_env):  # noqa: F811
    return run_cli(cli_env, "keys", "create", "--scope", "read").stdout.strip()


def get(base, target: str, key: str):
    return requests.get(base + target, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def test_a_long_query_within_the_limit_reaches_the_app(server, read_key):  # noqa: F811
    base, _ = server
    words = "+OR+".join(f"w{i:05d}" for i in range(600))   # ~6,000 bytes: over gunicorn's old 4,094
    response = get(base, "/api/v1/events?q=" + words, read_key)
    assert response.status_code in (200, 400), response.text[:300]   # the app's own answer, whatever it is
    assert response.headers["Content-Type"].startswith("application/json") and "error" not in response.json() \
        or "query" in response.json()["error"]["message"]


def test_urls_over_the_apps_limit_are_414_in_json(server, read_key):  # noqa: F811
    base, _ = server
    response = get(base, "/api/v1/events?q=" + "a" * 8050, read_key)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert "PLATLOGS_MAX_URL_BYTES" in response.json()["error"]["message"]


def test_request_lines_over_gunicorns_limit_are_414_in_json_too(server):  # noqa: F811
    base, _ = server
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /api/v1/events?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414") and b"Content-Type: application/json" in head
    assert b'"status":414' in body
