"""Classification rules (data) and PII redaction."""
from __future__ import annotations

import pytest

from app.config import Settings
from app.events.classify import Classifier
from app.events.redact import Redactor, luhn_ok
from app.services import build_normalizer

NOW = 1_795_000_000_000


@pytest.fixture(scope="module")
def normalizer(tmp_path_factory):
    return build_normalizer(Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path_factory.mktemp("d"))}))


@pytest.mark.parametrize("raw,component,type_,rule", [
    ({"error": {"type": "ValueError"}}, "error", "system_error", "error-fields"),
    ({"actor": {"type": "employee"}, "event": {"action": "withdrawal_approved"}, "payment": {"amount": 5}},
     "admin_action", "payment", "employee-actor,payment-fields"),
    ({"actor": {"type": "employee", "id": "e-1"}, "event": {"action": "login"}}, "admin_action", "login",
     "login-action,employee-actor"),
    ({"actor": {"type": "player"}, "event": {"action": "login_failed"}}, "user_activity", "login",
     "login-action,player-actor"),
    ({"integration": {"provider": "Evolution"}}, "integration", "provider_request", "integration-fields"),
    ({"http": {"response": {"status_code": 200}}}, "api", "api_request", "http-fields"),
    ({"service": {"name": "api-gateway"}}, "api", "api_request", "gateway-service"),
    ({"game": {"round_id": "r1"}}, "user_activity", "game_session", "game-fields"),
    ({"actor": {"type": "player"}, "changes": [{"field": "email"}]}, "user_activity", "profile_change",
     "changes-field,player-actor"),
    ({"event": {"action": "deploy"}}, "system", "service_lifecycle", "lifecycle-action"),
    ({"log": {"level": "critical"}}, "error", "system_error", "error-level"),
    ({"message": "hello"}, "system", "other", "fallback"),
    ({"event": {"component": "api", "type": "api_request"}, "error": {"type": "X"}}, "api", "api_request", "client"),
    ({"event": {"component": "integration"}, "error": {"type": "Timeout"}}, "integration", "system_error", "error-fields"),
])
def test_default_rules(normalizer, raw, component, type_, rule):
    event = normalizer.normalize(raw, NOW)["event"]
    assert (event["component"], event["type"], event["classified_by"]) == (component, type_, rule)


def test_rules_file_is_configurable(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
rules:
  - id: kyc-service
    when: {service.name: {prefix: "kyc-"}, log.level: {in: [info, warning]}}
    set: {component: integration, type: provider_request}
  - id: everything-else
    set: {component: system, type: other}
""")
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path / "d"), "PLATLOGS_CLASSIFICATION_FILE": str(rules)})
    normalizer = build_normalizer(settings)
    hit = normalizer.normalize({"service": {"name": "kyc-onfido"}, "log": {"level": "info"}}, NOW)["event"]
    miss = normalizer.normalize({"service": {"name": "kyc-onfido"}, "log": {"level": "error"}}, NOW)["event"]
    assert hit["classified_by"] == "kyc-service" and hit["component"] == "integration"
    assert miss["classified_by"] == "everything-else"


@pytest.mark.parametrize("text,problem", [
    ("rules: [{id: a, set: {component: billing}}]", "unknown component"),
    ("rules: [{id: a, when: {x: {near: 1}}, set: {type: login}}]", "unknown operator"),
    ("rules: [{id: a, set: {type: login}}, {id: a, set: {type: login}}]", "unique id"),
])
def test_bad_rules_fail_at_start(tmp_path, text, problem):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        Classifier.from_file(path, ["system"], ["login"])


# -- redaction -------------------------------------------------------------------------

VISA = "4111111111111111"
AMEX = "378282246310005"


def test_luhn():
    assert luhn_ok(VISA) and luhn_ok(AMEX) and not luhn_ok("4111111111111112")


@pytest.mark.parametrize("text,expected", [
    (f"card {VISA} declined", "card 411111******1111 declined"),
    ("card 4111 1111 1111 1111", "card 411111******1111"),
    ("card 4111-1111-1111-1111!", "card 411111******1111!"),
    (f"amex {AMEX}", "amex 378282*****0005"),
    ("not luhn 4111111111111112", "not luhn 4111111111111112"),
    ("epoch 1795000000123 stays", "epoch 1795000000123 stays"),
    ("id 41111111111111110000 too long", "id 41111111111111110000 too long"),
    ("Authorization: Bearer abcdefghijklmnop.qrs", "Authorization: Bearer [REDACTED]"),
    ("GET /login?user=a&password=hunter2&x=1", "GET /login?user=a&password=[REDACTED]&x=1"),
])
def test_string_redaction(text, expected):
    assert Redactor.from_file().scrub(text)[0] == expected


def test_secret_fields_are_dropped_anywhere_and_counted(normalizer):
    event = normalizer.normalize({
        "password": "p", "user": {"Password": "p", "new-password": "q", "api_key": "k", "name": "ok"},
        "payment": {"card": {"cvv": "123", "number": VISA, "masked": "411111******1111"}},
        "http": {"request": {"headers": {"Authorization": "Basic x", "Cookie": "s=1"}}},
        "refresh_token": "t", "session": {"id": "s-1"},
    }, NOW)
    assert event["user"] == {"name": "ok"}
    assert event["payment"]["card"] == {"number": "411111******1111", "masked": "411111******1111"}
    assert event["http"]["request"]["headers"] == {}
    assert "password" not in event and "refresh_token" not in event
    assert event["session"] == {"id": "s-1"}
    assert event["event"]["redacted"] == 9


def test_card_number_as_a_key_is_masked(normalizer):
    event = normalizer.normalize({"cards": {VISA: "primary"}}, NOW)
    assert event["cards"] == {"411111******1111": "primary"}


def test_card_number_sent_as_json_number_is_masked(normalizer):
    event = normalizer.normalize({"card": int(VISA), "event": {"duration": 4111111111111111}}, NOW)
    assert event["card"] == "411111******1111"
    # a numeric field cannot hold the masked string: the number is cut to six significant digits
    assert event["event"]["duration"] == 4111110000000000
    assert event["event"]["redacted"] == 2 and "number_redacted" in event["tags"]


def test_custom_patterns(tmp_path):
    path = tmp_path / "redaction.yaml"
    path.write_text("drop_fields: [iban]\npatterns:\n  - {name: email, regex: '[\\w.]+@[\\w.]+', replace: '[email]'}\n")
    settings = Settings.from_env({"PLATLOGS_DATA_DIR": str(tmp_path / "d"), "PLATLOGS_REDACTION_FILE": str(path)})
    event = build_normalizer(settings).normalize({"message": "mail jo@example.com", "iban": "DE00", "card": VISA}, NOW)
    assert event["message"] == "mail [email]" and "iban" not in event and event["card"] == "411111******1111"
