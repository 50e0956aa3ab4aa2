"""Tolerant shapes (issue 15 item 4): records shippers and logging libraries send, taken instead
of refused — through the normaliser, on both of its paths where a raw line is given."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from app.config import Settings
from app.events.convert import EventError
from app.services import build_normalizer

NOW = 1_796_300_000_000          # 2026-12-03T12:13:20Z
T = "2026-12-03T10:11:27.123Z"
T_MS = 1_796_292_687_123


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("d"))}))


def norm(normalizer, raw: dict) -> dict:
    """The stored event, the same whether the raw line is given (the fast path may take it) or not."""
    line = orjson.dumps(raw)
    a = normalizer.normalize(orjson.loads(line), NOW, line)
    b = normalizer.normalize(orjson.loads(line), NOW)
    for e in (a, b):
        e.pop("_columns", None)
        e["event"].pop("id")
    assert a == b
    return a


# -- strings where objects belong -------------------------------------------------------------------

def test_a_string_log_is_the_message(normalizer):
    e = norm(normalizer, {"log": "disk full on /var", "stream": "stderr"})
    assert e["message"] == "disk full on /var" and "log" not in e
    assert orjson.loads(e["event"]["original"]) == {"log": "disk full on /var", "stream": "stderr"}


def test_a_string_log_beside_a_message_is_kept(normalizer):
    e = norm(normalizer, {"message": "parsed", "log": "raw line"})
    assert e["message"] == "parsed" and e["log"] == {"text": "raw line"}


@pytest.mark.parametrize("key,field", [("host", "name"), ("service", "name"), ("user", "name")])
def test_a_string_namespace_is_its_name(normalizer, key, field):
    e = norm(normalizer, {"message": "m", key: "web-1"})
    assert e[key] == {field: "web-1"} and "original" in e["event"]


def test_pino_bunyan_and_clef_records(normalizer):
    e = norm(normalizer, {"level": 50, "time": T_MS, "pid": 4242, "hostname": "api-3", "msg": "boom", "v": 1})
    assert (e["message"], e["log"], e["@timestamp"]) == ("boom", {"level": "error", "original_level": "50"}, T)
    assert e["process"] == {"pid": 4242} and e["host"] == {"hostname": "api-3"} and e["v"] == 1
    e = norm(normalizer, {"@t": "2026-12-03T10:11:27.123+00:00", "@mt": "User {u} in", "@l": "Warning", "u": "x"})
    assert (e["message"], e["log"]["level"], e["@timestamp"]) == ("User {u} in", "warning", T)


# -- times -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["timestamp", "time", "date", "ts", "@t"])
@pytest.mark.parametrize("value", [T_MS / 1000, T_MS, T_MS * 1000, T_MS * 1_000_000, str(T_MS), "1796292687.123",
                                   "2026-12-03T10:11:27.123456789Z", "2026-12-03T11:11:27.123+01:00",
                                   "2026-12-03 10:11:27,123", "2026-12-03T05:11:27.123-05:00"])
def test_time_keys_in_every_unit_and_format(normalizer, key, value):
    e = norm(normalizer, {"message": "m", key: value})
    assert e["@timestamp"] == T and e["_ts"] == T_MS and key not in e and "timestamp_assigned" not in e.get("tags", [])


@pytest.mark.parametrize("value,expected", [
    ("Dec  3 10:11:27", "2026-12-03T10:11:27.000Z"),
    ("Dec 31 23:59:59", "2025-12-31T23:59:59.000Z"),      # a year ahead would be the future
    ("[03/Dec/2026:11:11:27 +0100]", "2026-12-03T10:11:27.000Z"),
    ("Thu, 03 Dec 2026 10:11:27 GMT", "2026-12-03T10:11:27.000Z"),
    ("Sun Dec 04 04:47:44 2005", "2005-12-04T04:47:44.000Z"),
    ("2026/12/03 10:11:27", "2026-12-03T10:11:27.000Z"),
    (1796292687, "2026-12-03T10:11:27.000Z"),
])
def test_at_timestamp_in_other_formats(normalizer, value, expected):
    assert norm(normalizer, {"@timestamp": value, "message": "m"})["@timestamp"] == expected


def test_a_time_key_that_is_no_time_stays_and_the_server_time_is_used(normalizer):
    e = norm(normalizer, {"message": "m", "time": "12ms", "ts": 5})
    assert e["time"] == "12ms" and e["ts"] == 5 and "timestamp_assigned" in e["tags"]


def test_a_time_key_does_not_override_at_timestamp(normalizer):
    e = norm(normalizer, {"@timestamp": T, "time": "2020-01-01T00:00:00Z", "message": "m"})
    assert e["@timestamp"] == T and e["time"] == "2020-01-01T00:00:00Z" and "original" not in e["event"]


def test_a_bad_at_timestamp_is_still_refused(normalizer):
    with pytest.raises(EventError, match="not a time"):
        normalizer.normalize({"@timestamp": "yesterday"}, NOW)


# -- levels --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,level", [
    ("SEVERE", "error"), ("WARNING", "warning"), ("Err", "error"), ("FATAL", "critical"), ("crit", "critical"),
    ("notice", "notice"), ("trace", "trace"), ("FINEST", "trace"), ("E", "error"), (0, "emergency"), (3, "error"),
    ("3", "error"), (7, "debug"), (9, "info"), (17, "error"), (21, "critical"), (10, "trace"), (20, "debug"),
    (30, "info"), (40, "warning"), (50, "error"), (60, "critical"), (30.0, "info"),
])
def test_level_words_and_numbers(normalizer, value, level):
    e = norm(normalizer, {"message": "m", "log": {"level": value}})
    assert e["log"]["level"] == level
    spelled = isinstance(value, str) and value.lower() in ("warning", "err", "fatal", "crit", "notice", "trace")
    assert e["log"].get("original_level") == (None if spelled else str(value))


def test_an_unknown_level_is_kept_not_refused(normalizer):
    e = norm(normalizer, {"message": "m", "log": {"level": "chatty"}})
    assert e["log"] == {"original_level": "chatty"}


def test_a_level_that_is_no_word_is_refused(normalizer):
    with pytest.raises(EventError) as caught:
        normalizer.normalize({"log": {"level": {"x": 1}}}, NOW)
    assert caught.value.field == "log.level"


def test_the_level_table_is_validated(tmp_path):
    from app.events.shapes import load_levels
    bad = tmp_path / "levels.yaml"
    bad.write_text("words: {loud: [shout]}\nnumbers: {}\n")
    with pytest.raises(ValueError, match=r"levels\.yaml: words: 'loud' is not a log.level"):
        load_levels(bad, ("info", "error"))
    bad.write_text("words: {}\nnumbers: {x: info}\n")
    with pytest.raises(ValueError, match=r"numbers: 'x': expected a whole number"):
        load_levels(bad, ("info",))
    from app.events.shapes import LEVELS_FILE
    assert Path(LEVELS_FILE).exists()


# -- ECS ------------------------------------------------------------------------------------------------

def test_ecs_event_type_and_category_keep_their_meaning(normalizer):
    e = norm(normalizer, {"message": "Accepted password", "event": {"type": ["start"], "category": ["authentication",
                                                                                                   "session"],
                                                                      "kind": "event", "dataset": "system.auth"}})
    assert e["event"]["ecs_type"] == ["start"] and e["event"]["category"] == ["authentication", "session"]
    assert e["event"]["type"] == "login" and e["event"]["dataset"] == "system.auth"   # classified (ecs-authentication)
    e = norm(normalizer, {"message": "m", "event": {"type": "connection"}})
    assert e["event"]["ecs_type"] == ["connection"] and e["event"]["type"] == "other"


def test_our_own_event_type_is_unchanged(normalizer):
    e = norm(normalizer, {"message": "m", "event": {"type": "login", "component": "user_activity"}})
    assert e["event"]["type"] == "login" and "ecs_type" not in e["event"] and "original" not in e["event"]


def test_host_ip_takes_a_list(normalizer):
    e = norm(normalizer, {"message": "m", "host": {"name": "h", "ip": ["10.0.0.5", "FE80::1"]}})
    assert e["host"]["ip"] == ["10.0.0.5", "fe80::1"]


def test_kubernetes_names_of_fluent_bit_and_otel(normalizer):
    e = norm(normalizer, {"log": "x", "kubernetes": {"pod_name": "wallet-7d9f", "namespace_name": "payments",
                                                     "pod_id": "5b1c", "host": "node-3", "container_name": "wallet"}})
    k = e["kubernetes"]
    assert (k["pod"], k["namespace"], k["node"], k["container"]) == (
        {"name": "wallet-7d9f", "uid": "5b1c"}, "payments", {"name": "node-3"}, {"name": "wallet"})
    e = norm(normalizer, {"message": "x", "k8s.pod.name": "p", "k8s.namespace.name": "ns"})
    assert e["kubernetes"] == {"pod": {"name": "p"}, "namespace": "ns"} and e["k8s"]["pod"]["name"] == "p"


# -- what is recorded, and stays redacted ------------------------------------------------------------

def test_event_original_is_redacted_and_bounded(normalizer):
    raw = {"log": "card 4111 1111 1111 1111 password=hunter2 " + "x" * 9000, "host": "h", "password": "pw"}
    e = normalizer.normalize(raw, NOW)
    original = e["event"]["original"]
    assert len(original) <= 8192 and "4111 1111" not in original and "hunter2" not in original
    assert '"password"' not in original and "411111******1111" in original


def test_the_clients_own_event_original_is_kept(normalizer):
    e = norm(normalizer, {"host": "h", "event": {"original": "as read"}, "message": "m"})
    assert e["event"]["original"] == "as read"


def test_a_record_with_nothing_to_rewrite_has_no_original(normalizer):
    e = norm(normalizer, {"@timestamp": T, "message": "m", "log": {"level": "WARN"}, "host": {"name": "h"}})
    assert "original" not in e["event"] and e["log"] == {"level": "warning"}


def test_kubernetes_labels_with_dots_beside_a_plain_one_are_kept(normalizer):
    """Fluent Bit's kubernetes filter sends labels `app` and `app.kubernetes.io/name` side by
    side: nested, `app` would have to be a value and an object at once. The dotted one is kept
    with `_` for its dots (either order), and the event tagged."""
    for labels in ({"app": "wallet", "app.kubernetes.io/name": "wallet-svc"},
                   {"app.kubernetes.io/name": "wallet-svc", "app": "wallet"}):
        e = norm(normalizer, {"log": "x", "kubernetes": {"labels": labels}})
        assert e["kubernetes"]["labels"] == {"app": "wallet", "app_kubernetes_io/name": "wallet-svc"}
        assert "dotted_key_renamed" in e["tags"]


def test_a_dotted_key_given_twice_is_still_refused(normalizer):
    with pytest.raises(EventError, match="given twice"):
        normalizer.normalize({"a": {"b": 1}, "a.b": 2}, NOW)


def test_ecs_authentication_is_a_login(normalizer):
    e = norm(normalizer, {"message": "Failed password for invalid user admin", "event": {
        "category": ["authentication"], "type": ["start"], "outcome": "failure"}})
    assert (e["event"]["type"], e["event"]["component"]) == ("login", "system")
    assert e["event"]["classified_by"].startswith("ecs-authentication")


def test_the_contains_operator_is_checked():
    from app.events.classify import _matcher
    assert _matcher("x", {"contains": "a"})(["a", "b"]) and not _matcher("x", {"contains": "a"})("a")
    with pytest.raises(ValueError, match="unknown operator"):
        _matcher("x", {"holds": "a"})


@pytest.mark.parametrize("raw,expected", [
    ({"error": "timeout"}, {"error": {"message": "timeout"}}),
    ({"actor": "p-1"}, {"actor": {"id": "p-1"}}),
    ({"trace": "4bf92f3577b34da6a3ce929d0e0e4736"}, {"trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"}}),
    ({"url": "https://x.example/a"}, {"url": {"full": "https://x.example/a"}}),
    ({"client": "ios"}, {"labels": {"client": "ios"}}),
    ({"event": "login"}, {"labels": {"event": "login"}}),
    ({"http": 200}, {"labels": {"http": "200"}}),
])
def test_a_namespace_given_a_scalar_is_placed(normalizer, raw, expected):
    e = norm(normalizer, {"message": "m", **raw})
    for key, value in expected.items():
        assert {k: e[key][k] for k in value} == value
    assert "original" in e["event"]


def test_a_namespace_scalar_whose_label_is_taken_is_refused(normalizer):
    with pytest.raises(EventError) as caught:
        normalizer.normalize({"client": "ios", "labels": {"client": "android"}}, NOW)
    assert caught.value.field == "client"
