"""`platlogs ingest-status`: the ingest counters (app/ingest/status.py, as the page and the API)."""

from __future__ import annotations

import json

import click

from .cli_common import _settings


def _rate(r: dict) -> str:
    return f"{r['1m']:,.2f} / {r['15m']:,.2f} / {r['1h']:,.2f}"


def _lag(ms) -> str:
    from .ingest.status import lag_text

    return lag_text(ms)


def _cell(text, width: int) -> str:
    # a source name is whatever an administrator typed: no control characters on the terminal
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text[: width - 1] + "…" if len(text) > width else text.ljust(width)


@click.command("ingest-status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--top", default=20, show_default=True, type=click.IntRange(1, 200), help='Sources listed (the rest: "(other)").'
)
def ingest_status(fmt: str, top: int) -> None:
    """Events/s per protocol and source, refusals by reason, queue depths and lag, summed over
    every process that ingested into this data directory (the page /ingest/status shows the same)."""
    from .ingest.status import ingest_status as status_of

    settings = _settings()
    s = status_of(settings.data_dir, top=top)
    if fmt == "json":
        click.echo(json.dumps(s, indent=2))
        return
    t = s["totals"]
    click.echo(
        f"{t['rate']['1m']:,.2f} events/s over the last minute ({_rate(t['rate'])} over 1 min / 15 min / 1 h); "
        f"{t['accepted']:,} accepted, {t['refused']:,} refused, {t['duplicates']:,} already stored"
        + (f" since {s['since']}" if s["since"] else "")
    )
    click.echo(
        f"lag p50 {_lag(s['lag']['p50_ms'])}, p95 {_lag(s['lag']['p95_ms'])} over the last {s['lag']['window_s'] // 60} min"
    )
    click.echo("")
    head = (
        f"{'protocol':<12} {'source':<28} {'accepted':>10} {'refused':>8}  {'events/s 1m / 15m / 1h':<26} "
        f"{'lag p50':>12} {'lag p95':>12}"
    )
    click.echo(head)
    for r in s["protocols"]:
        click.echo(
            f"{_cell(r['protocol'], 12)} {'(all)':<28} {r['accepted']:>10,} {r['refused']:>8,}  "
            f"{_rate(r['rate']):<26} "
            f"{_lag(r['lag']['p50_ms']):>12} {_lag(r['lag']['p95_ms']):>12}"
        )
    click.echo("")
    for r in s["sources"]:
        click.echo(
            f"{_cell(r['protocol'], 12)} {_cell(r['source'], 28)} {r['accepted']:>10,} {r['refused']:>8,}  "
            f"{_rate(r['rate']):<26} {_lag(r['lag']['p50_ms']):>12} {_lag(r['lag']['p95_ms']):>12}"
        )
    if s["refusals"]:
        click.echo("\nrefused, by reason:")
        for r in s["refusals"]:
            click.echo(f"  {r['count']:>10,}  {r['reason']}: {r['description']}")
    q = s["queues"]
    gc = q["group_commit"]
    click.echo(
        "\nqueues: store writer "
        + (f"{gc['depth']} (peak {gc['peak']})" if gc else "-")
        + f", requests in flight {q['in_flight']}"
        + (f", syslog {q['syslog']['depth']}" if q["syslog"] else "")
    )
