"""`platlogs dashboards`: the shipped dashboards outside the back office (registered on
`platlogs` in cli.py)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import click


def store_prefix(store_url: str | None) -> str:
    """The index prefix of an OpenSearch store URL (`?prefix=`, default platlogs)."""
    from .dashboards.opensearch_export import DEFAULT_PREFIX

    if not store_url or not store_url.startswith("opensearch"):
        return DEFAULT_PREFIX
    return parse_qs(urlsplit(store_url).query).get("prefix", [DEFAULT_PREFIX])[0]


@click.group()
def dashboards() -> None:
    """The dashboards of dashboards/*.yaml."""


@dashboards.command("export")
@click.option(
    "--opensearch-dashboards",
    "osd",
    is_flag=True,
    required=True,
    help="As OpenSearch Dashboards saved objects (NDJSON for /api/saved_objects/_import).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory to write <dashboard>.ndjson into. Default: dashboards/opensearch/ of the checkout.",
)
@click.option(
    "--prefix",
    default=None,
    help="The store's index prefix (the read alias is <prefix>-events). Default: PLATLOGS_STORE's ?prefix=, else platlogs.",
)
def export_command(osd: bool, out_dir: str | None, prefix: str | None) -> None:
    """Write each dashboard as saved objects: the index pattern on the read alias, one
    visualization (or saved search) a panel filtering with the back office's own query DSL, and
    the dashboard. Ids are stable: importing again with overwrite=true replaces them."""
    import re

    from .dashboards.definitions import DashboardError
    from .dashboards.opensearch_export import write_exports

    prefix = prefix or store_prefix(os.environ.get("PLATLOGS_STORE"))
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise click.BadParameter("lower-case letters, digits and _ only (as the store's prefix)", param_hint="--prefix")
    try:
        paths = write_exports(out_dir, prefix)
    except DashboardError as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(
        f"{len(paths)} dashboards for the index pattern {prefix}-events. Import: POST each file to "
        "<dashboards>/api/saved_objects/_import?overwrite=true with the header osd-xsrf: true."
    )
