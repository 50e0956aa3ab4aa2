"""One catalog of alert rules (app/alerts/catalog.py): the rule files and the rules made in the
back office, merged in one place, so the scheduler runs, `platlogs alerts list` prints and the
rules page lists exactly the same rules.

The divergences these tests pin (issue 16): two rule files sharing an id — the scheduler and the
CLI skipped the second file whole while the page skipped only the clashing rule, so a rule listed
on the page never ran; a UI rule with a file rule's id — the page listed both as rules.

Real SQLite meta DB and store (the conftest `app`), the real CLI through click's runner."""
from __future__ import annotations

import re
from html import unescape

import pytest
from click.testing import CliRunner

from app.alerts.catalog import load_catalog
from app.alerts.lifecycle import Alerts
from app.alerts.model import Evaluation
from app.alerts.scheduler import tick
from app.cli import main

pytestmark = pytest.mark.usefixtures("cheap_hashes")

T0 = 1_795_000_020_000


def rule_yaml(rule_id: str, name: str | None = None) -> str:
    return (f"- id: {rule_id}\n  name: {name or rule_id}\n  kind: threshold\n  query: 'event.action:login_failed'\n"
            f"  window: 5m\n  threshold: 3\n")


@pytest.fixture
def rules_dir(tmp_path, app):
    directory = tmp_path / "rules"
    directory.mkdir()
    app.config["ALERT_RULES_DIR"] = str(directory)
    return directory


def no_findings(rule, store, moment):
    return Evaluation(rule=rule, now_ms=moment)


def scheduler_runs(services, rules_dir) -> list[str]:
    report = tick(T0, services, evaluate=no_findings, rules_dir=rules_dir, deliver=False)
    return sorted(rule_id for rule_id, _ in report.runs)


def cli_lists(env, rules_dir) -> tuple[list[str], str]:
    result = CliRunner().invoke(main, ["alerts", "list", "--rules", str(rules_dir)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()[1:]
    return sorted(line.split()[0] for line in lines if line.strip()), result.stderr


def page_lists(client) -> tuple[list[str], str]:
    """The ids of the rules table's rows (the rules that run) and the whole page's text."""
    html = client.get("/alerts/rules").get_data(as_text=True)
    table = re.search(r'<table class="events rules">(.*?)</table>', html, re.S).group(1)
    ids = re.findall(r'<tr class="[^"]*">\s*<td class="rule-id"><code>([^<]*)</code>', table)
    return sorted(unescape(i) for i in ids), unescape(html)


def test_two_rule_files_sharing_an_id_list_exactly_the_rules_that_run(app, services, env, rules_dir, persona):
    (rules_dir / "a-logins.yaml").write_text(rule_yaml("failed-logins", "from a") + rule_yaml("only-in-a"))
    (rules_dir / "b-logins.yaml").write_text(rule_yaml("failed-logins", "from b") + rule_yaml("only-in-b"))

    runs = scheduler_runs(services, rules_dir)
    listed, cli_errors = cli_lists(env, rules_dir)
    shown, html = page_lists(persona("security"))

    assert listed == runs and shown == runs          # the page lists what runs, no more
    # the first file in name order keeps the id; the other file's clashing rule is an error, its
    # other rules run
    assert runs == ["failed-logins", "only-in-a", "only-in-b"]
    assert "from a" in html and "from b" not in html.split('<table class="events rules">')[1].split("</table>")[0]
    for text in (cli_errors, html):
        assert "failed-logins" in text and "a-logins.yaml" in text and "b-logins.yaml" in text


def test_a_ui_rule_with_a_file_rules_id_is_not_listed_as_a_rule(app, services, env, rules_dir, persona):
    (rules_dir / "logins.yaml").write_text(rule_yaml("failed-logins", "the file's rule"))
    alerts = Alerts(services.meta)
    alerts.save_ui_rule({"id": "failed-logins", "name": "the UI's rule", "kind": "threshold", "query": "*",
                         "window": "5m", "threshold": 1}, by="sec-anna")
    alerts.save_ui_rule({"id": "payments-failing", "name": "Payments failing", "kind": "threshold",
                         "query": "event.outcome:failure", "window": "5m", "threshold": 100}, by="sec-anna")

    runs = scheduler_runs(services, rules_dir)
    listed, cli_errors = cli_lists(env, rules_dir)
    shown, html = page_lists(persona("security"))

    assert listed == runs and shown == runs
    assert runs == ["failed-logins", "payments-failing"]
    table = html.split('<table class="events rules">')[1].split("</table>")[0]
    assert "the file's rule" in table and "the UI's rule" not in table
    assert "failed-logins" in cli_errors and "logins.yaml" in cli_errors


# -- the catalog itself ----------------------------------------------------------------------------

def test_entries_say_where_each_rule_comes_from_and_why_one_does_not_run(services, tmp_path):
    directory = tmp_path / "rules"
    directory.mkdir()
    # written in the reverse of name order: the file system's order must not matter
    (directory / "z-last.yaml").write_text(rule_yaml("shared", "from z") + rule_yaml("twice") + rule_yaml("twice"))
    (directory / "m-broken.yaml").write_text("id: broken\nkind: nonsense\n")
    (directory / "a-first.yaml").write_text(rule_yaml("shared", "from a"))
    (directory / "notes.txt").write_text("not a rule file")
    alerts = Alerts(services.meta)
    alerts.save_ui_rule({"id": "made-here", "name": "made here", "kind": "threshold", "query": "*",
                         "window": "5m", "threshold": 1, "enabled": False}, by="sec-anna")
    catalog = load_catalog(services.meta, directory)

    assert [(e.id, e.source, e.file.name if e.file else None, e.in_force) for e in catalog.entries] == [
        ("shared", "file", "a-first.yaml", True),
        ("broken", "file", "m-broken.yaml", False),
        ("shared", "file", "z-last.yaml", False),
        ("twice", "file", "z-last.yaml", True),
        ("twice", "file", "z-last.yaml", False),
        ("made-here", "ui", None, True)]
    assert [r.id for r in catalog.rules()] == ["shared", "twice", "made-here"]   # a disabled rule is in force
    assert catalog.by_id["shared"].rule.name == "from a" and catalog.file("made-here") is None
    assert catalog.ui("made-here").row.created_by == "sec-anna"
    assert catalog.ids() == {"shared", "broken", "twice", "made-here"}
    errors = catalog.errors()
    assert len(errors) == 3
    assert errors[0].startswith("rule broken (m-broken.yaml): kind:")
    assert errors[1].startswith("rule shared (z-last.yaml): id already used in a-first.yaml")
    assert errors[2].startswith("rule twice (z-last.yaml): id already used in z-last.yaml")
    assert str(tmp_path) not in "".join(errors)                    # file names, not the server's paths


def test_a_stored_rule_the_validator_refuses_is_an_entry_without_a_rule(services, tmp_path):
    alerts = Alerts(services.meta)
    alerts.save_ui_rule({"id": "strict", "name": "strict", "kind": "threshold", "query": "*", "window": "5m",
                         "threshold": 1}, by="sec-anna")

    def stricter(data):
        raise ValueError("threshold: too low now")

    catalog = load_catalog(services.meta, None, validate=stricter)
    [entry] = catalog.entries
    assert (entry.id, entry.rule, entry.source, entry.in_force) == ("strict", None, "ui", False)
    assert catalog.errors() == ["rule strict (made in the back office): not valid any more, not run: threshold: too low now"]
    assert catalog.rules() == [] and catalog.ui("strict") is entry


def test_a_missing_rules_directory_is_reported(services, tmp_path):
    catalog = load_catalog(services.meta, tmp_path / "missing")
    assert catalog.rules() == [] and len(catalog.errors()) == 1 and "is not a directory" in catalog.errors()[0]
