"""`platlogs rollups`: the per-minute rollups' commands (registered on `platlogs` in cli.py)."""

from __future__ import annotations

import time

import click

from .cli_common import _services


def _time(value: str | None, name: str) -> int | None:
    if not value:
        return None
    from .events.convert import Converter, EventError

    try:
        return Converter().parse_timestamp(int(value) if value.isdigit() else value, name)[0]
    except EventError as exc:
        raise click.BadParameter(exc.reason, param_hint=name) from None


@click.group()
def rollups() -> None:
    """Per-minute rollups of the stored events (counts, provider calls, latency sketches)."""


@rollups.command("rebuild")
@click.option("--from", "time_from", default=None, help="ISO-8601 or epoch ms. Default: the oldest stored event.")
@click.option("--to", "time_to", default=None, help="ISO-8601 or epoch ms (exclusive). Default: the newest.")
def rebuild_command(time_from: str | None, time_to: str | None) -> None:
    """Recompute the rollups of a range from the stored events, replacing what is kept there.
    Whole minutes; clipped to the time the store still holds events for (older rollups stay)."""
    from .events.convert import format_ts
    from .storage import StoreError
    from .storage.rollups_rebuild import rebuild

    start, end = _time(time_from, "--from"), _time(time_to, "--to")
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("must be after --from", param_hint="--to")
    services = _services()
    began = time.monotonic()
    try:
        done = rebuild(services.store, start, end)
    except (ValueError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()
    if done.start_ms is None or done.end_ms is None:  # (set together)
        click.echo("No stored events: nothing to rebuild.")
        return
    click.echo(
        f"Rebuilt rollups of {format_ts(done.start_ms)} to {format_ts(done.end_ms)} from {done.events} "
        f"events in {time.monotonic() - began:.1f} s."
    )
