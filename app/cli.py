"""The `platlogs` command."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .cli_accounts import keys, users
from .cli_alerts import alerts, scheduler
from .cli_common import _services, tune_gc
from .cli_dashboards import dashboards
from .cli_db import db
from .cli_ingest import ingest_status
from .cli_rollups import rollups
from .cli_syslog import syslog


@click.group()
def main() -> None:
    """Platform Logs: capture, keep, search and alert on a gaming platform's events.

    Settings come from PLATLOGS_* environment variables (see README)."""


main.add_command(scheduler)
main.add_command(alerts)
main.add_command(rollups)
main.add_command(dashboards)
main.add_command(syslog)
main.add_command(ingest_status)
main.add_command(keys)
main.add_command(users)
main.add_command(db)


# -- serve --------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=lambda: os.environ.get("PLATLOGS_HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option("--port", default=lambda: int(os.environ.get("PLATLOGS_PORT", "8080")), type=int, show_default="8080")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
@click.option("--threads", default=8, show_default=True, help="Threads per worker.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the back office and the API with gunicorn (a production WSGI server)."""
    from gunicorn.app.base import BaseApplication

    from .server import LIMIT_REQUEST_LINE, UrlLimit

    services = _services()  # validates settings, creates the databases before workers fork
    password = services.meta.ensure_admin()
    services.close()
    url = f"http://{host}:{port}/"
    click.echo(f"Platform Logs on {url}  (store: {services.settings.store_url})")
    if password:
        click.echo(
            f"First start: sign in as 'admin' with the one-time password  {password}  "
            "(you will be asked to choose your own)."
        )
    else:
        click.echo("Sign in with your account (lost the admin password? `platlogs users reset-password admin`).")
    settings = services.settings

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            # gunicorn's own errors in JSON, and request lines up to its maximum: the app answers
            # URLs over PLATLOGS_MAX_URL_BYTES itself, in JSON (app/server.py)
            self.cfg.set("worker_class", "app.server.JsonErrorWorker")
            self.cfg.set("limit_request_line", LIMIT_REQUEST_LINE)
            self.cfg.set("timeout", 300)  # a 1 GB bulk upload is one long request
            self.cfg.set("accesslog", None)
            self.cfg.set("errorlog", "-")

        def load(self):
            from . import create_app

            app = create_app(settings)
            app.wsgi_app = UrlLimit(app.wsgi_app, settings.max_url_bytes)  # type: ignore[method-assign]  # Flask's way to wrap WSGI
            tune_gc()
            return app

    # the syslog listeners, when configured: one child process beside gunicorn's master (started
    # before it forks its workers, so never once per worker); stopped with the master
    syslog_child, master = None, os.getpid()
    if settings.syslog.enabled:
        from .syslog.server import start_process, stop_process

        try:
            syslog_child = start_process(settings)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        Server().run()
    finally:
        if syslog_child is not None and os.getpid() == master:  # a worker leaves run() through here too
            stop_process(syslog_child)


# -- demo and ingest ----------------------------------------------------------------------


@main.command()
@click.option("--events", default=100_000, show_default=True, type=click.IntRange(1, 500_000_000))
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", default=42, show_default=True, type=int)
def demo(events: int, days: int, seed: int) -> None:
    """Fill the store with a realistic gaming platform's traffic (through the normal ingest path)."""
    import orjson
    from tqdm import tqdm

    from .demo.generator import generate

    services = _services()
    tune_gc()
    end = datetime.now(UTC)
    with tqdm(total=events, unit="ev", unit_scale=True, desc="demo") as bar:
        # as JSON lines, exactly what a client would send (and the ingest fast path applies)
        lines = ((i, orjson.dumps(e)) for i, e in enumerate(generate(events, days=days, seed=seed, end=end)))
        report = services.ingestor.ingest(lines, progress=bar.update)
    services.close()
    click.echo(f"stored {report.accepted:,} events ({report.rejected:,} rejected) over {days} days")
    for error in report.errors[:5]:
        click.echo(f"  rejected {error}", err=True)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "ndjson", "text"]),
    default="auto",
    show_default=True,
    help="auto: NDJSON when the first line starts with {, else plain log lines (one an event).",
)
def ingest(file: str, fmt: str) -> None:
    """Ingest an NDJSON file or a plain log file (gzip allowed: *.gz) into the configured store, with progress."""
    from tqdm import tqdm

    from .ingest.ndjson import decoded_chunks, iter_lines
    from .ingest.text import as_text_if

    services = _services()
    tune_gc()
    size = None if file == "-" else Path(file).stat().st_size
    stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115 (closed by the with below)
    started = time.monotonic()
    with stream, tqdm(total=size, unit="B", unit_scale=True, desc="ingest") as bar:

        class Counting:
            def read(self, n):
                data = stream.read(n)
                bar.update(len(data))
                return data

        chunks = decoded_chunks(Counting(), gzip=file.endswith(".gz"))
        lines: Iterator[tuple[int, Any]] = iter_lines(chunks, services.settings.max_event_bytes)
        lines = as_text_if(lines, fmt, None if file == "-" else str(Path(file).resolve()))
        with services.ingest_stats.counting("cli", "platlogs ingest", "platlogs-cli", size or 0):
            report = services.ingestor.ingest(lines, position="line")
    services.close()
    elapsed = time.monotonic() - started
    click.echo(
        f"accepted {report.accepted:,} ({report.duplicates:,} already stored), rejected {report.rejected:,} "
        f"in {elapsed:.1f} s"
    )
    for error in report.errors[:20]:
        click.echo(
            f"  line {error.get('line')}: {error['reason']}" + (f" [{error['field']}]" if "field" in error else ""), err=True
        )
    if report.rejected:
        sys.exit(1)


@main.command()
@click.argument("query", default="")
@click.option(
    "--from", "time_from", default="now-24h", show_default=True, help="ISO-8601, epoch ms or now-15m/-24h/-7d; '' for all."
)
@click.option("--to", "time_to", default="", help="Default: now.")
@click.option("--size", default=20, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--order", type=click.Choice(["desc", "asc"]), default="desc", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "ndjson"]), default="table", show_default=True)
def search(query: str, time_from: str, time_to: str, size: int, order: str, fmt: str) -> None:
    """Search events with the query language (e.g. 'actor.id:p-000123 AND log.level:error')."""
    import shutil

    import orjson

    from .events.schema import get_path
    from .query import QueryError
    from .search.params import search_params
    from .search.service import iter_events

    services = _services()
    try:
        params = search_params({"q": query, "from": time_from, "to": time_to, "order": order, "size": "1"})
        events = iter_events(services.store, params.request, size)
        if fmt == "ndjson":
            for event in events:
                sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
            return
        width = shutil.get_terminal_size((160, 20)).columns
        shown = 0
        for event in events:
            meta = event.get("event", {})
            action = meta.get("action")
            kind = meta.get("type", "") + (f"/{action}" if action not in (None, meta.get("type")) else "")
            line = (
                f"{event['@timestamp']}  {get_path(event, 'log.level') or '-':8} {meta.get('component', ''):13} "
                f"{kind[:32]:32} {str(get_path(event, 'service.name') or '')[:18]:18} "
                f"{str(get_path(event, 'actor.id') or '')[:14]:14} {event.get('message', '')}"
            )
            click.echo(line.replace("\n", " ")[:width])
            shown += 1
        click.echo(f"({shown} event{'s' if shown != 1 else ''})", err=True)
    except QueryError as exc:
        where = f" at position {exc.position}" if exc.position is not None else ""
        raise click.ClickException(f"{exc.message}{where}") from None
    finally:
        services.close()


# -- schema and retention -----------------------------------------------------------------


@main.command()
@click.option("--markdown", is_flag=True, help="Print docs/schema.md instead of JSON Schema.")
def schema(markdown: bool) -> None:
    """Print the event schema."""
    from .events.schema import json_schema, markdown as as_markdown

    click.echo(as_markdown() if markdown else json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", nl=False)


@main.command()
@click.option("--write", is_flag=True, help="Rewrite index_templates/platlogs-common.json from the schema.")
def templates(write: bool) -> None:
    """Print the OpenSearch component template generated from the event schema."""
    from .storage import opensearch_templates as tpl

    text = json.dumps(tpl.common_template(tpl.template_version()), indent=2) + "\n"
    if write:
        (tpl.template_dir() / f"{tpl.COMMON}.json").write_text(text)
        click.echo(f"wrote {tpl.template_dir() / tpl.COMMON}.json (bump its version when the mappings change)", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.option(
    "--keep-days",
    type=click.IntRange(1, 36500),
    help="Keep this many days. Default on OpenSearch: each component's policy in index_templates/retention/.",
)
def retention(keep_days: int | None) -> None:
    """Drop whole partitions (days, or months and years of old events; indices on OpenSearch) once
    they are wholly past their age."""
    services = _services()
    now = int(time.time() * 1000)
    if keep_days is not None:
        dropped = services.store.drop_partitions_before(now - keep_days * 86_400_000)
    elif hasattr(services.store, "drop_expired"):
        dropped = services.store.drop_expired(now)
    else:
        services.close()
        raise click.UsageError("the embedded store keeps every component in the same partitions: give --keep-days")
    services.close()
    click.echo(f"dropped {len(dropped)} partition(s)" + (": " + ", ".join(dropped) if dropped else ""))


# -- migration ----------------------------------------------------------------------------


@main.command()
@click.option("--from", "source_url", required=True, help="Store to copy from, e.g. sqlite:///var/data/events.")
@click.option("--to", "dest_url", required=True, help="Store to copy into, e.g. opensearch://host:9200.")
@click.option("--batch", default=2000, show_default=True, type=click.IntRange(1, 100_000), help="Events per page.")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Progress file for resuming. Default: ./migrate-<hash of the two URLs>.json.",
)
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and read everything again (nothing is stored twice).")
@click.option("--allow-extra", is_flag=True, help="Days on which the destination holds more events are not an error.")
def migrate(source_url: str, dest_url: str, batch: int, checkpoint: Path | None, restart: bool, allow_extra: bool) -> None:
    """Copy every event from one store to another, resumably, then compare the counts per day.

    Re-running the same command resumes after the last page written, and copies again the days
    whose source count changed since (a catch-up before switching over). Events are never stored
    twice: the destination skips event ids it already holds."""
    from tqdm import tqdm

    from .storage import StoreError, open_store
    from .storage.migrate import CheckpointError, checkpoint_label, default_checkpoint, migrate as run_migration

    if source_url == dest_url:
        raise click.UsageError("--from and --to are the same store")
    checkpoint = checkpoint or default_checkpoint(source_url, dest_url)
    if restart:
        checkpoint.unlink(missing_ok=True)
    try:
        source = open_store(source_url)
        dest = open_store(dest_url)
    except (ValueError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    tune_gc()
    bar = None

    def progress(step) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=step.total, initial=step.done, unit="ev", unit_scale=True, desc="migrate")
        bar.update(step.read)

    try:
        if not source.partitions():
            raise click.ClickException(f"the source store {source_url} holds no events")
        report = run_migration(
            source, dest, batch=batch, checkpoint=checkpoint, label=checkpoint_label(source_url, dest_url), progress=progress
        )
    except (CheckpointError, StoreError, OSError) as exc:
        raise click.ClickException(f"{exc} (checkpoint: {checkpoint}; run the same command again to resume)") from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; run the same command again to resume (checkpoint: {checkpoint})", err=True)
        sys.exit(130)
    finally:
        if bar is not None:
            bar.close()
        source.close()
        dest.close()

    resumed = f", {report.skipped:,} skipped (checkpoint)" if report.skipped else ""
    click.echo(
        f"copied {report.copied:,}, {report.duplicates:,} already there, {report.failed:,} failed "
        f"of {report.read:,} read{resumed} in {report.seconds:.1f} s ({report.rate:,.0f} events/s)"
    )
    for event_id, reason in report.failures:
        click.echo(f"  failed {event_id or '(no id)'}: {reason}", err=True)
    if report.failed > len(report.failures):
        click.echo(f"  … and {report.failed - len(report.failures):,} more", err=True)
    check = report.verification
    if check is not None:
        bad = [d for d in check.days if d.source != d.dest or not d.exact]
        if bad:
            click.echo(f"{'day':24} {'source':>12} {'destination':>12} {'difference':>11}")
            for d in bad:
                kind = (
                    "count not exact"
                    if not d.exact
                    else "destination has fewer"
                    if d.dest < d.source
                    else "destination has more"
                )
                click.echo(f"{d.label:24} {d.source:>12,} {d.dest:>12,} {d.dest - d.source:>+11,}  {kind}")
        fewer, more = check.fewer, check.more
        state = (
            "counts match"
            if not bad
            else f"{len(fewer)} day(s) with fewer events in the destination, {len(more)} with more"
            + (" (allowed)" if more and allow_extra and not fewer else "")
        )
        days = sum(d.start_ms is not None for d in check.days)
        click.echo(
            f"verified {days} day(s): source {check.source_total:,}, destination {check.dest_total:,} events; {state}"
        )
        if fewer:
            click.echo("days with missing events will be copied again by the next run of this command", err=True)
    if not report.ok(allow_extra):
        sys.exit(1)


if __name__ == "__main__":
    main()
