"""`platlogs scheduler` and `platlogs alerts`: the alert commands (registered on `platlogs` in cli.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .cli_common import _services

# -- alerts -------------------------------------------------------------------------------


@click.command()
@click.option(
    "--interval",
    default=60,
    show_default=True,
    type=click.IntRange(5, 86_400),
    help="Seconds between ticks (the default cadence of every rule).",
)
@click.option(
    "--catch-up",
    "catch_up",
    default=7200,
    show_default=True,
    type=click.IntRange(0, 7 * 86_400),
    help="After downtime, run the missed moments at most this many seconds back.",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of rule files. Default: the project's alerts/.",
)
@click.option("--once", is_flag=True, help="Run one tick now, print what it did, and exit.")
def scheduler(interval: int, catch_up: int, rules_dir: Path | None, once: bool) -> None:
    """Evaluate the alert rules on a schedule and send notifications (its own process: run one
    or several; each rule run is claimed, so two schedulers never fire the same alert)."""
    from .alerts import scheduler as alert_scheduler

    services = _services()
    rules_dir = rules_dir or alert_scheduler.DEFAULT_RULES_DIR
    try:
        if once:
            report = alert_scheduler.tick(
                int(time.time() * 1000), services, interval_s=interval, catch_up_s=catch_up, rules_dir=rules_dir
            )
            click.echo(report.summary())
            for error in report.errors:
                click.echo(f"  {error}", err=True)
            alert_scheduler.track_health(services, click.echo)
            return
        alert_scheduler.run(services, interval_s=interval, catch_up_s=catch_up, rules_dir=rules_dir, echo=click.echo)
    finally:
        services.close()


@click.group()
def alerts() -> None:
    """Alert rules: list them, or check what they would fire at a moment."""


def _alert_rules(services, rules_dir: Path | None) -> tuple[list, list[str]]:
    """The rules in force (alerts/catalog.py: the rule files — default: the project's alerts/ —
    and the rules made in the back office, exactly those the scheduler runs) and an error line
    for each rule or file that is not run."""
    from .alerts.catalog import load_catalog
    from .alerts.rules import default_rules_dir

    catalog = load_catalog(services.meta, rules_dir or default_rules_dir())
    return catalog.rules(), catalog.errors()


_RULES_OPTION = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of rule files. Default: the project's alerts/.",
)


@alerts.command("list")
@_RULES_OPTION
def alerts_list(rules_dir: Path | None) -> None:
    """Every rule: the files' and those made in the back office."""
    from .alerts.evaluate import duration

    services = _services()
    try:
        rules, errors = _alert_rules(services, rules_dir)
    finally:
        services.close()
    click.echo(f"{'id':34} {'kind':9} {'source':6} {'window':7} {'threshold':>9}  {'group by':22} name")
    for r in sorted(rules, key=lambda r: r.id):
        off = "" if r.enabled else "  (disabled)"
        click.echo(
            f"{r.id[:34]:34} {r.kind:9} {r.source:6} {duration(r.window_s):7} {r.threshold:>9g}  "
            f"{(r.group_by or '-')[:22]:22} {r.name}{off}"
        )
    for error in errors:
        click.echo(f"  {error}", err=True)


@alerts.command("check")
@click.option(
    "--at", "at", default="now", show_default=True, help="The moment to evaluate at: ISO-8601, epoch ms or now-15m/-24h/-7d."
)
@_RULES_OPTION
@click.option("--rule", "only", multiple=True, help="Only this rule id (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="Also print the groups that are ok or unknown.")
@click.option("--format", "fmt", type=click.Choice(["table", "ndjson"]), default="table", show_default=True)
def alerts_check(at: str, rules_dir: Path | None, only: tuple[str, ...], show_all: bool, fmt: str) -> None:
    """Evaluate every enabled rule once at a moment and print the alerts it would fire (rule id,
    group, value, threshold) — without notifying or changing any alert's state. Exits 1 when a
    rule could not be evaluated (a bad query, the store unreachable)."""
    import orjson

    from .alerts.evaluate import evaluate
    from .events.convert import format_ts
    from .query import QueryError
    from .query.timeexpr import parse_time

    try:
        moment = parse_time(at, int(time.time() * 1000), "--at")
    except QueryError as exc:
        raise click.BadParameter(exc.message.removeprefix("--at: "), param_hint="--at") from None
    services = _services()
    try:
        rules, errors = _alert_rules(services, rules_dir)
        if only:
            missing = sorted(set(only) - {r.id for r in rules})
            if missing:
                raise click.ClickException(f"no rule {', '.join(missing)}")
            rules = [r for r in rules if r.id in only]
        rules = [r for r in rules if r.enabled or r.id in only]
        failed = 0
        shown = {"alert": 0, "ok": 0, "unknown": 0}
        if fmt == "table":
            click.echo(f"{'rule':34} {'group':24} {'state':7} {'value':>9} {'threshold':>9}  detail")
        for rule in sorted(rules, key=lambda r: r.id):
            evaluation = evaluate(rule, services.store, moment)
            if evaluation.error:
                failed += 1
                errors.append(f"rule {rule.id}: {evaluation.error}")
            for f in evaluation.findings:
                if f.state != "alert" and not show_all:
                    continue
                shown[f.state] += 1
                if fmt == "ndjson":
                    click.echo(
                        orjson.dumps(
                            {
                                "rule_id": f.rule_id,
                                "group": f.group,
                                "state": f.state,
                                "value": f.value,
                                "threshold": f.threshold,
                                "detail": f.detail,
                                "sample_ids": list(f.sample_ids),
                                "search_query": f.search_query,
                                "window_start": format_ts(f.window_start_ms),
                                "window_end": format_ts(f.window_end_ms),
                                "severity": rule.severity,
                            }
                        ).decode()
                    )
                    continue
                value = "-" if f.value is None else f"{f.value:.4g}"
                group = "-" if f.group is None else f.group
                click.echo(f"{f.rule_id[:34]:34} {group[:24]:24} {f.state:7} {value:>9} {f.threshold:>9g}  {f.detail}")
        for error in errors:
            click.echo(f"  {error}", err=True)
        click.echo(
            f"{len(rules)} rule(s) at {format_ts(moment)}: {shown['alert']} alert(s)"
            + (f", {shown['unknown']} unknown" if shown["unknown"] else "")
            + (f", {failed} could not be evaluated" if failed else ""),
            err=True,
        )
    finally:
        services.close()
    if failed:
        sys.exit(1)


@alerts.command("test")
@click.argument("rule_id")
@click.option(
    "--hours", default=6, show_default=True, type=click.IntRange(1, 7 * 24), help="How far back to test, ending now."
)
@_RULES_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def alerts_test(rule_id: str, hours: int, rules_dir: Path | None, fmt: str) -> None:
    """Test a rule over the last hours, as the rule form's "Test the rule" and
    POST /api/v1/alerts/rules/test do: every moment the scheduler would have evaluated it, the
    windows that would have fired, and warnings (a group_by field the matching events lack).
    Nothing is notified or changed."""
    import orjson

    from .alerts.preview import as_dict, preview_rule
    from .events.convert import format_ts

    services = _services()
    try:
        rules, _errors = _alert_rules(services, rules_dir)
        rule = next((r for r in rules if r.id == rule_id), None)
        if rule is None:
            raise click.ClickException(f"no rule {rule_id}")
        result = preview_rule(rule, services.store, int(time.time() * 1000), hours)
    finally:
        services.close()
    if fmt == "json":
        click.echo(orjson.dumps(as_dict(result)).decode())
        return
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{'from':24} {'to':24} {'group':24} {'peak':>9} {'threshold':>9}  would  detail")
    for w in result.windows:
        group = "-" if w.group is None else w.group
        click.echo(
            f"{format_ts(w.first_ms):24} {format_ts(w.last_ms):24} {group[:24]:24} {w.peak:>9.4g} "
            f"{w.threshold:>9g}  {'fire ' if w.fires else 'wait '}  {w.detail}"
        )
    for moment, error in result.errors[:10]:
        click.echo(f"  {format_ts(moment)}: {error}", err=True)
    click.echo(
        f"{result.evaluated:,} of {result.planned:,} positions evaluated (every {result.step_s} s, "
        f"{result.method}) in {result.seconds} s: {len(result.firing)} window(s) would have fired"
        + ("; stopped early (time budget)" if result.stopped else ""),
        err=True,
    )


# -- people's actions: the service the pages and the JSON API use (app/alerts/actions.py) ------------


def _act(rules_dir: Path | None, call) -> None:
    """Run `call(actions)` as the command line's operator (audit.operator(): the OS account, on
    this host): the change, its alert history and its admin-action event, as from the page."""
    from .alerts.actions import Actor, AlertActions
    from .alerts.changes import Conflict
    from .alerts.rules import default_rules_dir

    services = _services()
    try:
        click.echo(call(AlertActions(services, Actor.command_line(), rules_dir or default_rules_dir())))
    except (LookupError, Conflict, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    finally:
        services.close()


def _moment(text: str, name: str) -> int:
    from .query import QueryError
    from .query.timeexpr import parse_time

    try:
        return parse_time(text, int(time.time() * 1000), name)
    except QueryError as exc:
        raise click.BadParameter(exc.message.removeprefix(f"{name}: "), param_hint=name) from None


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--owner", required=True, help="The user who takes the alert (no reminders until it resolves).")
@click.option("--comment", default="", help="What is being done about it.")
@_RULES_OPTION
def alerts_ack(alert_id: int, owner: str, comment: str, rules_dir: Path | None) -> None:
    """Acknowledge an open alert for OWNER (recorded as an admin action by this OS account)."""
    _act(rules_dir, lambda a: f"alert #{a.acknowledge(alert_id, owner, comment).id} acknowledged: {owner} owns it")


@alerts.command("unack")
@click.argument("alert_id", type=int)
@click.option("--comment", default="")
@_RULES_OPTION
def alerts_unack(alert_id: int, comment: str, rules_dir: Path | None) -> None:
    """Withdraw an open alert's acknowledgement."""
    _act(rules_dir, lambda a: f"alert #{a.unacknowledge(alert_id, comment).id}: acknowledgement withdrawn")


@alerts.command("mute")
@click.argument("alert_id", type=int)
@click.option("--until", "until", required=True, help="End of the mute: ISO-8601, epoch ms or now+90m.")
@click.option("--whole-rule", is_flag=True, help="Mute every group of the alert's rule, not only its group.")
@click.option("--comment", default="")
@_RULES_OPTION
def alerts_mute(alert_id: int, until: str, whole_rule: bool, comment: str, rules_dir: Path | None) -> None:
    """Hold back an open alert's notifications until a time."""
    end = _moment(until, "--until")
    from .meta.alert_tables import iso

    _act(
        rules_dir,
        lambda a: "muted until " + str(iso(a.mute_alert(alert_id, end, whole_rule=whole_rule, comment=comment).until)),
    )


@alerts.command("unmute")
@click.argument("alert_id", type=int)
@click.option("--whole-rule", is_flag=True, help="Lift every mute of the alert's rule.")
@click.option("--comment", default="")
@_RULES_OPTION
def alerts_unmute(alert_id: int, whole_rule: bool, comment: str, rules_dir: Path | None) -> None:
    """Lift the mutes in force on an open alert (its group's, or with --whole-rule its rule's)."""
    _act(rules_dir, lambda a: f"{a.unmute_alert(alert_id, whole_rule=whole_rule, comment=comment).mutes} mute(s) lifted")


@alerts.group("maintenance")
def alerts_maintenance() -> None:
    """Maintenance windows: notifications of the matching alerts held back during [start, end)."""


@alerts_maintenance.command("add")
@click.option("--rule", "rule_id", default=None, help="The rule (default: every rule).")
@click.option("--group", "group_pattern", default=None, help="Groups matching this pattern (`*`: every group).")
@click.option("--start", default="now", show_default=True)
@click.option("--end", required=True, help="ISO-8601, epoch ms or now+2h.")
@click.option("--reason", required=True, help="Why (e.g. the provider's announced maintenance).")
@_RULES_OPTION
def maintenance_add(
    rule_id: str | None, group_pattern: str | None, start: str, end: str, reason: str, rules_dir: Path | None
) -> None:
    """Add a maintenance window (a rule, a group pattern, or both)."""
    begin, finish = _moment(start, "--start"), _moment(end, "--end")

    def add(actions) -> str:
        window = actions.add_maintenance(
            rule_id=rule_id, group_pattern=group_pattern, start=begin, end=finish, reason=reason
        )
        return f"maintenance window #{window.id} added"

    _act(rules_dir, add)


@alerts_maintenance.command("end")
@click.argument("window_id", type=int)
@_RULES_OPTION
def maintenance_end(window_id: int, rules_dir: Path | None) -> None:
    """End a window in force now, or cancel one not started yet."""
    _act(rules_dir, lambda a: f"maintenance window #{window_id} {a.end_maintenance(window_id)}")
