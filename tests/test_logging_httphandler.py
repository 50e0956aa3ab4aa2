"""The standard library's `logging.handlers.HTTPHandler` (POST: the LogRecord's attributes as a
form) against a real `platlogs serve`: every record found once, its fields mapped; a form that
is not a log record, and hostile format strings, answered without harm."""
from __future__ import annotations

import logging
import logging.handlers
import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
import requests

from app.ingest.logrecord import event_of_logrecord
from test_server_cli import cli_env, run_cli, server  # noqa: F401 (fixtures)


def search(base: str, key: str, q: str) -> list[dict]:
    for _ in range(50):
        answer = requests.get(base + "/api/v1/events", params={"q": q, "size": 200, "range": "all"},
                              headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        if answer["hits"]:
            return answer["hits"]
        time.sleep(0.1)
    return []


def test_the_stdlib_http_handler_posts_records_found_by_search(server, cli_env):  # noqa: F811
    base, _ = server
    ingest_key = run_cli(cli_env, "keys", "create", "--scope", "ingest", "--name", "stdlib").stdout.strip()
    read_key = run_cli(cli_env, "keys", "create", "--scope", "read").stdout.strip()
    handler = logging.handlers.HTTPHandler(base.removeprefix("http://"), "/api/v1/events", method="POST",
                                           credentials=("platlogs", ingest_key))
    logger = logging.getLogger("shop.wallet")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        for i in range(20):
            logger.warning("withdrawal %s held for review: %d checks", f"wd-{i:04d}", i)
        try:
            raise TimeoutError("provider pay-x did not answer in 5000 ms")
        except TimeoutError:
            logger.exception("payout failed for %(player)s", {"player": "p-77"})
        logger.debug("plain %s text")   # no args: the % is the message's own
    finally:
        logger.removeHandler(handler)
    hits = search(base, read_key, "log.logger:shop.wallet")
    assert len(hits) == 22
    by_message = {h["message"]: h for h in hits}
    hit = by_message["withdrawal wd-0007 held for review: 7 checks"]
    assert hit["log"]["level"] == "warning"
    assert hit["process"]["pid"] > 0 and hit["process"]["name"] == "MainProcess"
    assert hit["process"]["thread"]["name"] == "MainThread"
    assert hit["labels"]["function"] == "test_the_stdlib_http_handler_posts_records_found_by_search"
    assert hit["labels"]["file"] == "test_logging_httphandler.py"
    assert abs(int(time.time() * 1000) - hit_ms(hit)) < 120_000
    failed = by_message["payout failed for p-77"]
    assert failed["log"]["level"] == "error"
    assert failed["error"]["type"] == "TimeoutError"
    assert "provider pay-x did not answer" in failed["error"]["message"]
    assert "stack_trace" not in failed["error"]   # HTTPHandler sends exc_info's str(), no traceback
    assert "plain %s text" in by_message
    assert search(base, read_key, "wd-0013")   # a bare id from the formatted message


def hit_ms(hit: dict) -> int:
    return int(datetime.fromisoformat(hit["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def record(**overrides) -> dict:
    fields = {"name": "x", "msg": "m", "args": "None", "levelname": "INFO", "levelno": "20",
              "created": "1764720000.5", "process": "12", "exc_text": "None"}
    fields.update(overrides)
    return fields


@pytest.mark.parametrize("msg,args,expected", [
    ("%999999999d", "(1,)", "%999999999d (1,)"),            # a width that would fill the memory
    ("%*d", "(99999999, 1)", "%*d (99999999, 1)"),
    ("%(a)s and %(b)s", "{'a': 1}", "%(a)s and %(b)s {'a': 1}"),   # a missing key
    ("%s", "(__import__('os').system('true'),)", "%s (__import__('os').system('true'),)"),  # not a literal
    ("%s", "(" * 5000 + ")" * 5000, None),                  # too deep / too long: kept as text
    ("%d items", "(3,)", "3 items"),
])
def test_format_strings_are_formatted_only_when_harmless(msg, args, expected):
    event = event_of_logrecord(record(msg=msg, args=args))
    if expected is None:
        assert event["message"].startswith("%s (((")
    else:
        assert event["message"] == expected


def test_a_form_that_is_not_a_log_record_is_a_400(server, cli_env):  # noqa: F811
    base, _ = server
    key = run_cli(cli_env, "keys", "create", "--scope", "ingest").stdout.strip()
    answer = requests.post(base + "/api/v1/events", data=urlencode({"severity": "info"}),
                           headers={"Authorization": f"Bearer {key}",
                                    "Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert answer.status_code == 400
    assert "logging record" in answer.json()["error"]["message"]


def test_a_formatted_traceback_is_the_stack_trace():
    trace = "Traceback (most recent call last):\n  File \"w.py\", line 3, in pay\nTimeoutError: no answer in 5000 ms"
    event = event_of_logrecord(record(exc_text=trace, levelname="ERROR"))
    assert event["error"] == {"stack_trace": trace, "type": "TimeoutError", "message": "no answer in 5000 ms"}
    assert event["@timestamp"] == "2025-12-03T00:00:00.500Z" and event["process"] == {"pid": 12}
    assert "labels" not in event
