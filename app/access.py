"""Roles and permissions (app/roles.yaml), and what a route declares about who may use it.

Every page and API route is decorated with exactly one permission; `required_permission(view)`
reads it back, so a test can check every route against every role. API keys act as pseudo-roles
(`key_roles`), given by the scopes they are created with (`key_scopes`); an API route also
declares the scopes a key needs for it (`required_scopes`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

ROLES_FILE = Path(__file__).with_name("roles.yaml")
API_READER = "api_reader"  # what a read key made before keys kept their roles acts as (legacy_key_scopes)
ADMINISTER = "manage_users"  # the permission that makes a role an administrators' role


class RolesFileError(ValueError):
    """roles.yaml is wrong: the message names the file, the entry and the field."""


@dataclass(frozen=True)
class _Roles:
    roles: dict[str, str]  # people's roles -> what each is for, in file order
    permissions: dict[str, frozenset[str]]  # permission -> the roles and key roles holding it
    key_roles: dict[str, str]  # API keys' pseudo-roles -> what each is for
    key_scopes: dict[str, tuple[str, ...]]  # scope a key is created with -> the key roles it gives
    legacy_key_scopes: dict[str, tuple[str, ...]]  # ... for a key made before keys kept their roles


def _names(section: str, entry: str, value, known: set[str], what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RolesFileError(f"{ROLES_FILE.name}: {section}.{entry}: a list of {what}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise RolesFileError(f"{ROLES_FILE.name}: {section}.{entry} names unknown {what} {unknown}")
    return tuple(value)


def _section(raw: dict, name: str) -> dict:
    value = raw.get(name)
    if not isinstance(value, dict) or not value:
        raise RolesFileError(f"{ROLES_FILE.name}: {name}: a mapping, and not empty")
    return value


def parse(raw) -> _Roles:
    """roles.yaml's content, checked (RolesFileError names the file, the entry and the field)."""
    if not isinstance(raw, dict):
        raise RolesFileError(f"{ROLES_FILE.name}: a mapping of roles, permissions, key_roles, key_scopes")
    roles = {str(k): str(v) for k, v in _section(raw, "roles").items()}
    key_roles = {str(k): str(v) for k, v in _section(raw, "key_roles").items()}
    clash = sorted(set(roles) & set(key_roles))
    if clash:
        raise RolesFileError(f"{ROLES_FILE.name}: key_roles: {clash} are people's roles too")
    holders = set(roles) | set(key_roles)
    permissions = {
        name: frozenset(_names("permissions", name, members, holders, "roles"))
        for name, members in _section(raw, "permissions").items()
    }
    key_scopes = {
        str(scope): _names("key_scopes", scope, given, set(key_roles), "key roles")
        for scope, given in _section(raw, "key_scopes").items()
    }
    legacy = {
        str(scope): _names("legacy_key_scopes", scope, given, set(key_roles), "key roles")
        for scope, given in _section(raw, "legacy_key_scopes").items()
    }
    return _Roles(roles, permissions, key_roles, key_scopes, legacy)


@lru_cache(maxsize=1)
def _load() -> _Roles:
    return parse(yaml.safe_load(ROLES_FILE.read_text()))


def roles() -> dict[str, str]:
    """Role name -> what the role is for, in file order."""
    return _load().roles


def permissions() -> dict[str, frozenset[str]]:
    return _load().permissions


def administrator_roles() -> tuple[str, ...]:
    """The roles that administer users (those holding ADMINISTER), in file order: the first is
    given to the first user; the last active user of these roles is never demoted."""
    return tuple(r for r in roles() if r in permissions().get(ADMINISTER, ()))


def can(role: str | None, permission: str) -> bool:
    if permission not in permissions():
        raise KeyError(f"unknown permission {permission!r}")
    return role in permissions()[permission]


def permissions_of(*role_names: str | None) -> frozenset[str]:
    """Every permission any of `role_names` (people's roles or key roles) holds."""
    return frozenset(p for p, holders in permissions().items() if holders.intersection(role_names))


# -- API keys ---------------------------------------------------------------------------------------


def key_roles() -> dict[str, str]:
    """The pseudo-roles API keys act as -> what each is for."""
    return _load().key_roles


def key_scopes() -> tuple[str, ...]:
    """The scopes a key may be created with, in file order."""
    return tuple(_load().key_scopes)


def roles_for_scopes(scopes, *, legacy: bool = False) -> tuple[str, ...]:
    """The key roles a key created with `scopes` acts as, sorted (`legacy`: a key made before keys
    kept their roles). ValueError: a scope roles.yaml does not name."""
    table = _load().legacy_key_scopes if legacy else _load().key_scopes
    unknown = sorted(set(scopes) - set(table))
    if unknown:
        raise ValueError(f"scope: {', '.join(unknown)} is not one of {', '.join(table)}")
    return tuple(sorted({role for scope in scopes for role in table[scope]}))


def scopes_giving(permission: str) -> tuple[str, ...]:
    """The scopes whose key roles hold `permission` (to tell a refused key what it lacks)."""
    holders = permissions().get(permission, frozenset())
    return tuple(s for s, given in _load().key_scopes.items() if holders.intersection(given))


def declare(view, permission: str | None, scopes: tuple[str, ...] = ()):
    """Mark `view` as needing `permission`, and of an API key one of `scopes` (checked by the
    decorators in auth.py)."""
    if permission is not None and permission not in permissions():
        raise KeyError(f"unknown permission {permission!r}")
    unknown = set(scopes) - set(key_scopes())
    if unknown:
        raise KeyError(f"unknown scopes {sorted(unknown)}")
    view.required_permission = permission
    view.required_scopes = scopes
    return view


def required_permission(view) -> str | None:
    return getattr(view, "required_permission", None)


def required_scopes(view) -> tuple[str, ...]:
    """The scopes an API key needs one of to call `view` (() for a page: keys never open one)."""
    return getattr(view, "required_scopes", ())
