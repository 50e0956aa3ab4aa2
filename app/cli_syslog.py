"""`platlogs syslog`: the syslog listeners alone (app/syslog/), in the foreground."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--status", "show_status", is_flag=True, help="Print the listeners' last counters (JSON) and exit.")
@click.option(
    "--parent-pid", type=int, default=None, hidden=True, help="Stop when this process is gone (set by `platlogs serve`)."
)
def syslog(show_status: bool, parent_pid: int | None) -> None:
    """Receive syslog over TCP (RFC 6587: octet-counted or newline-framed), TLS (RFC 5425) and
    UDP (RFC 3164 and 5424) into the store, as configured by PLATLOGS_SYSLOG_TCP,
    PLATLOGS_SYSLOG_TLS (with PLATLOGS_SYSLOG_TLS_CERT and _KEY) and PLATLOGS_SYSLOG_UDP.
    `platlogs serve` starts this itself when any of them is set."""
    from .config import ConfigError, Settings
    from .ingest.syslog_status import read_status

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if show_status:
        status = read_status(settings.data_dir)
        if status is None:
            raise click.ClickException(f"no syslog listener has run with the data directory {settings.data_dir}")
        click.echo(json.dumps(status, indent=2))
        return
    if not settings.syslog.enabled:
        raise click.ClickException(
            "no syslog listener configured: set PLATLOGS_SYSLOG_TCP, PLATLOGS_SYSLOG_UDP or PLATLOGS_SYSLOG_TLS (host:port)"
        )
    from .cli_common import tune_gc
    from .syslog.server import run

    tune_gc()
    try:
        run(settings, parent_pid=parent_pid)
    except OSError as exc:  # an address in use, a certificate that cannot be read
        raise click.ClickException(f"syslog: {exc}") from None
