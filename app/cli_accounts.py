"""`platlogs keys` and `platlogs users`: account administration from the command line (registered on
`platlogs` in cli.py).

Each command calls the account service the back office's pages call (app/meta/accounts.py), so the
checks, the side effects (a reset forgets failed sign-ins; deactivation signs out) and the audit
event are the same; only who acted differs: the operating-system account that ran the command
(`cli:<os user>`), from this host (docs/security.md, "What is recorded")."""

from __future__ import annotations

from contextlib import contextmanager

import click

from .cli_common import _services


class RoleChoice(click.Choice):
    """The roles of app/roles.yaml, read when the command runs (not a copy of the list)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from .access import roles

        return tuple(roles())

    @choices.setter
    def choices(self, _value) -> None:  # click.Choice.__init__ sets it
        pass


@contextmanager
def _account_services():
    """(services, the operator acting) for one command; account errors become click errors."""
    from .meta import accounts

    services = _services()
    try:
        yield services, accounts.operator()
    except (LookupError, ValueError) as exc:  # no such user or key, a bad value, a lockout, done before
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()


class ScopeChoice(click.Choice):
    """The scopes of app/roles.yaml's key_scopes, read when the command runs (not a copy of the list)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from .access import key_scopes

        return key_scopes()

    @choices.setter
    def choices(self, _value) -> None:  # click.Choice.__init__ sets it
        pass


# -- keys --------------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """API keys for ingestion and reading."""


@keys.command("create")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=ScopeChoice(),
    help="Repeat for several. ingest: send events; read: search, exports, dashboards… and list alerts; "
    "alerts:write: list, acknowledge and mute alerts (app/roles.yaml key_scopes).",
)
@click.option("--name", default=None, help="What the key is for (e.g. the shipper's host). Default: its scopes.")
def keys_create(scopes: tuple[str, ...], name: str | None) -> None:
    """Create a key and print it (it is shown only once). Recorded as the back office's."""
    from .meta import accounts

    with _account_services() as (services, me):
        row, key = accounts.create_key(services, me, name or "+".join(scopes), list(scopes))
    click.echo(key)
    acts_as = ", ".join(row.acts_as) or "no role"
    click.echo(f"(key #{row.id}, scope {row.scopes}, acting as {acts_as}; store it now: only its hash is kept)", err=True)


@keys.command("list")
def keys_list() -> None:
    from .events.convert import format_ts
    from .meta import accounts

    with _account_services() as (services, _me):
        for k in accounts.keys(services):
            state = f"revoked {format_ts(k.revoked_at, 'day')}" if k.revoked_at else "active"
            acts_as = ", ".join(k.acts_as) or "(no role)"
            click.echo(f"#{k.id}  {k.display}…  {k.scopes:24}  {k.name}  ({state})  acts as {acts_as}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key: it is refused from now on. Recorded as the back office's."""
    from .meta import accounts

    with _account_services() as (services, me):
        try:
            accounts.revoke_key(services, me, key_id)
        except (LookupError, accounts.AlreadyDone):
            raise click.ClickException(f"no active key #{key_id}") from None
    click.echo(f"revoked key #{key_id}")


# -- users -------------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Back-office users."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=RoleChoice(), help="One of app/roles.yaml's roles.")
@click.option(
    "--password",
    default=None,
    help="Generated and printed when omitted (then a one-time password, replaced at the first sign-in).",
)
def users_create(username: str, role: str, password: str | None) -> None:
    """Create a back-office user. Recorded as the back office's."""
    from .meta import accounts

    with _account_services() as (services, me):
        _, password_used = accounts.create_user(services, me, username, role, password)
    click.echo(f"created {username} ({role})")
    if password is None:
        click.echo(f"one-time password: {password_used}  (to be replaced at the first sign-in)")


@users.command("list")
def users_list() -> None:
    from .meta import accounts

    with _account_services() as (services, _me):
        for u in accounts.users(services):
            click.echo(f"{u.username:20} {u.role:14} {'active' if u.active else 'disabled'}")


@users.command("reset-password")
@click.argument("username")
def users_reset_password(username: str) -> None:
    """Set a new one-time password (the user must change it at next sign-in); their sessions end
    and their failed sign-ins are forgotten, as with the back office's reset."""
    from .meta import accounts

    with _account_services() as (services, me):
        user = accounts.user_named(services, username)
        _, password = accounts.reset_password(services, me, user.id)
    click.echo(f"one-time password for {username}: {password}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=RoleChoice())
def users_set_role(username: str, role: str) -> None:
    """Give a user another role (never the last active administrator's away). Recorded."""
    from .meta import accounts

    with _account_services() as (services, me):
        _, changes = accounts.change_user(services, me, accounts.user_named(services, username).id, role=role)
    click.echo(f"{username}: {', '.join(accounts.describe(changes)) or 'nothing to change'}")


@users.command("set-active")
@click.argument("username")
@click.argument("active", type=click.Choice(["yes", "no"]))
def users_set_active(username: str, active: str) -> None:
    """Deactivate (`no`: signed out everywhere, refused at sign-in) or reactivate (`yes`) a user. Recorded."""
    from .meta import accounts

    with _account_services() as (services, me):
        _, changes = accounts.change_user(services, me, accounts.user_named(services, username).id, active=active == "yes")
    click.echo(f"{username}: {', '.join(accounts.describe(changes)) or 'nothing to change'}")


@users.command("sign-out")
@click.argument("username")
def users_sign_out(username: str) -> None:
    """End every sign-in session of a user (recorded, as the back office's "Sign out everywhere")."""
    from .meta import accounts

    with _account_services() as (services, me):
        ended = accounts.sign_out_everywhere(services, me, accounts.user_named(services, username))
    click.echo(f"{username}: {ended} session{'' if ended == 1 else 's'} ended")
