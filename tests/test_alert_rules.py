"""Alert rules as data: the shipped files load, and a bad rule is refused with the field at fault
(and, for a query, the query compiler's message and position)."""
from __future__ import annotations

import pytest

from app.alerts.model import KINDS, Rule
from app.alerts.rules import RuleError, default_rules_dir, load_file, load_rules, parse_duration, validate_rule
from app.query import parse

BASE = {"id": "r-1", "name": "A rule", "kind": "threshold", "query": "event.action:login_failed",
        "window": "5m", "threshold": 20}


def refused(**changes) -> RuleError:
    data = {**BASE, **changes}
    data = {k: v for k, v in data.items() if v is not ...}   # ... removes a key
    with pytest.raises(RuleError) as info:
        validate_rule(data)
    return info.value


# -- the shipped rules ------------------------------------------------------------------------

def test_the_shipped_rules_load_with_stable_unique_ids():
    rules = load_rules(default_rules_dir())
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    assert {"error-spike-per-service", "integration-failing-per-provider", "provider-silence",
            "brute-force-login-per-ip", "employee-balance-adjustments"} <= set(ids)
    assert {r.kind for r in rules} == set(KINDS)    # every kind is shipped at least once
    for rule in rules:
        assert rule.source == "file" and rule.enabled and rule.description
        parse(rule.query)
        if rule.kind == "ratio":
            parse(rule.failure_query)


def test_every_shipped_file_is_named_after_its_rule():
    for path in default_rules_dir().glob("*.yaml"):
        assert [r.id for r in load_file(path)] == [path.stem]


# -- one rule -----------------------------------------------------------------------------

def test_a_valid_rule_with_defaults():
    rule = validate_rule(BASE)
    assert rule == Rule(id="r-1", name="A rule", kind="threshold", query="event.action:login_failed",
                        window_s=300, threshold=20.0)


def test_every_key_of_a_full_rule():
    rule = validate_rule({
        "id": "spike.wallet_1", "name": "Spike", "kind": "spike", "query": "event.component:error",
        "window_s": 900, "threshold": 2.5, "group_by": "service.name", "min_count": 30,
        "baseline_periods": 6, "spike_mode": "zscore", "pending": "2m", "renotify": "1h",
        "severity": "critical", "notify": ["ops-webhook", "security-mail"], "description": " text ",
        "enabled": False})
    assert (rule.window_s, rule.threshold, rule.group_by, rule.min_count, rule.baseline_periods) == \
        (900, 2.5, "service.name", 30, 6)
    assert (rule.spike_mode, rule.pending_s, rule.renotify_s, rule.severity) == ("zscore", 120, 3600, "critical")
    assert rule.notify == ("ops-webhook", "security-mail") and rule.description == "text" and not rule.enabled


def test_ratio_and_absence_specific_keys():
    ratio = validate_rule({**BASE, "kind": "ratio", "threshold": "20%", "min_count": 5,
                           "failure_query": "integration.status:(error OR timeout)"})
    assert ratio.threshold == pytest.approx(0.2) and ratio.failure_query.startswith("integration.status")
    absence = validate_rule({**BASE, "kind": "absence", "threshold": 1, "group_by": "integration.provider",
                             "expected_groups": ["CardHub", "Play'n GO"]})
    assert absence.expected_groups == ("CardHub", "Play'n GO")


def test_the_source_is_file_unless_the_caller_says_ui():
    assert validate_rule(BASE).source == "file"
    assert validate_rule(BASE, source="ui").source == "ui"
    assert refused(source="database").field == "source"


@pytest.mark.parametrize("value, seconds", [(300, 300), ("300", 300), ("90s", 90), ("5m", 300), ("1h", 3600),
                                            ("2d", 172_800), ("1w", 604_800), (60.0, 60)])
def test_durations(value, seconds):
    assert parse_duration(value, "window") == seconds


def test_a_query_error_carries_the_compilers_message_and_position():
    error = refused(query="actor.id:p-1 AND acter.type:player")
    assert error.field == "query" and error.position == 17
    assert "unknown field 'acter.type'" in error.message and "did you mean 'actor.type'" in error.message
    assert error.as_dict() == {"message": error.message, "field": "query", "position": 17, "rule_id": "r-1"}
    unterminated = refused(query='message:"card declined')
    assert unterminated.field == "query" and unterminated.position == len('message:"card declined')
    assert unterminated.expected == '"'
    failing = refused(kind="ratio", threshold=0.2, failure_query="integration.status:(error OR")
    assert failing.field == "failure_query" and failing.position is not None


@pytest.mark.parametrize("changes, field, words", [
    ({"id": ...}, "id", "an id is required"),
    ({"id": "Has Spaces"}, "id", "lower-case"),
    ({"id": "-leading"}, "id", "starting with"),
    ({"name": ""}, "name", "is required"),
    ({"kind": "anomaly"}, "kind", "threshold, ratio, spike, absence"),
    ({"window": ...}, "window", "is required"),
    ({"window": "5 minutes"}, "window", "duration"),
    ({"window": 5}, "window", "between 10 s"),
    ({"window": "8d"}, "window", "7 day"),
    ({"kind": "spike", "window": "2d"}, "window", "1 day(s) for a spike"),
    ({"threshold": ...}, "threshold", "is required"),
    ({"threshold": "lots"}, "threshold", "a number"),
    ({"threshold": -1}, "threshold", "negative"),
    ({"kind": "ratio", "threshold": 1.5, "failure_query": "x"}, "threshold", "between 0 and 1"),
    ({"kind": "ratio", "threshold": 0.2}, "failure_query", "is required"),
    ({"kind": "absence", "threshold": 0}, "threshold", "at least 1"),
    ({"group_by": "acter.id"}, "group_by", "unknown field"),
    ({"group_by": "message"}, "group_by", "cannot group"),
    ({"group_by": "labels.job"}, "group_by", "cannot group"),
    ({"group_by": "actor"}, "group_by", "cannot group"),
    ({"failure_query": "x"}, "failure_query", "only applies to ratio"),
    ({"spike_mode": "zscore"}, "spike_mode", "only applies to spike"),
    ({"expected_groups": ["a"]}, "expected_groups", "only applies to absence"),
    ({"kind": "absence", "threshold": 1, "expected_groups": ["a"]}, "expected_groups", "needs group_by"),
    ({"kind": "absence", "threshold": 1, "group_by": "integration.provider", "expected_groups": ["a", "a"]},
     "expected_groups", "twice"),
    ({"kind": "absence", "threshold": 1, "group_by": "integration.provider", "expected_groups": ["a"],
      "min_count": 3}, "min_count", "always expected"),
    ({"kind": "spike", "threshold": 2, "baseline_periods": 0}, "baseline_periods", "between 1 and 12"),
    ({"kind": "spike", "threshold": 2, "spike_mode": "mad"}, "spike_mode", "relative, zscore"),
    ({"min_count": -2, "kind": "ratio", "threshold": 0.1, "failure_query": "x"}, "min_count", "at least 0"),
    ({"min_count": 2.5, "kind": "ratio", "threshold": 0.1, "failure_query": "x"}, "min_count", "whole number"),
    ({"severity": "page-everyone"}, "severity", "info, warning, critical"),
    ({"notify": {"to": "x"}}, "notify", "a list"),
    ({"enabled": "yes"}, "enabled", "true or false"),
    ({"treshold": 3}, "treshold", "did you mean 'threshold'"),
    ({"window_s": 300}, "window_s", "given twice"),
    ({"pending": "soon"}, "pending", "duration"),
])
def test_each_mistake_names_its_field(changes, field, words):
    error = refused(**changes)
    assert error.field == field, error
    assert words in error.message, error.message
    given = changes.get("id", "r-1")
    assert error.rule_id == (None if given is ... else given)


def test_a_rule_is_a_mapping():
    with pytest.raises(RuleError, match="a rule is a mapping"):
        validate_rule(["id", "r"])


# -- files --------------------------------------------------------------------------------

def write(directory, name, text):
    (directory / name).write_text(text, encoding="utf-8")


ONE = """
id: {id}
name: Rule {id}
kind: threshold
query: "event.action:login_failed"
window: 5m
threshold: 3
"""


def test_a_directory_of_files_one_rule_or_a_list_each(tmp_path):
    write(tmp_path, "b.yaml", ONE.format(id="b"))
    write(tmp_path, "a.yml", "rules:\n" + "".join(
        "  - " + ONE.format(id=i).strip().replace("\n", "\n    ") + "\n" for i in ("a1", "a2")))
    write(tmp_path, "c.yaml", "- " + ONE.format(id="c").strip().replace("\n", "\n  ") + "\n")
    write(tmp_path, "empty.yaml", "# nothing here yet\n")
    write(tmp_path, "notes.txt", "not a rule file")
    assert [r.id for r in load_rules(tmp_path)] == ["a1", "a2", "b", "c"]


def test_a_bad_file_names_the_file_the_rule_and_the_field(tmp_path):
    write(tmp_path, "ok.yaml", ONE.format(id="ok"))
    write(tmp_path, "bad.yaml", ONE.format(id="bad").replace("login_failed", "login_failed AND (x"))
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    error = info.value
    assert error.file.endswith("bad.yaml") and error.rule_id == "bad" and error.field == "query"
    assert "bad.yaml, rule bad, query: missing ')'" in str(error)
    errors: list = []   # the scheduler's way: skip the bad file, keep the others
    assert [r.id for r in load_rules(tmp_path, errors=errors)] == ["ok"]
    assert [e.file.endswith("bad.yaml") for e in errors] == [True]


def test_broken_yaml_says_where(tmp_path):
    write(tmp_path, "broken.yaml", "id: x\nname: [unclosed\n")
    with pytest.raises(RuleError, match=r"not valid YAML \(line \d+, column \d+\)") as info:
        load_rules(tmp_path)
    assert info.value.file.endswith("broken.yaml")


def test_ids_are_unique_across_files_and_within_one(tmp_path):
    write(tmp_path, "a.yaml", ONE.format(id="same"))
    write(tmp_path, "b.yaml", ONE.format(id="same"))
    with pytest.raises(RuleError, match="id 'same' is already used in a.yaml") as info:
        load_rules(tmp_path)
    assert info.value.field == "id" and info.value.file.endswith("b.yaml")
    write(tmp_path, "b.yaml", "- " + ONE.format(id="twin").strip().replace("\n", "\n  ") + "\n"
          + "- " + ONE.format(id="twin").strip().replace("\n", "\n  ") + "\n")
    with pytest.raises(RuleError, match="used twice in this file"):
        load_rules(tmp_path)


def test_not_a_directory(tmp_path):
    with pytest.raises(RuleError, match="is not a directory"):
        load_rules(tmp_path / "missing")
