"""Roles and permissions (app/roles.yaml), and what a route declares about who may use it.

Every page and API route is decorated with exactly one permission; `required_permission(view)`
reads it back, so a test can check every route against every role."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

ROLES_FILE = Path(__file__).with_name("roles.yaml")
API_READER = "api_reader"  # what a bearer key with the `read` scope counts as
ADMINISTER = "manage_users"  # the permission that makes a role an administrators' role


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    raw = yaml.safe_load(ROLES_FILE.read_text())
    roles = dict(raw["roles"])
    permissions = {}
    for name, members in raw["permissions"].items():
        unknown = set(members) - set(roles) - {API_READER}
        if unknown:
            raise ValueError(f"roles.yaml: permission {name!r} names unknown roles {sorted(unknown)}")
        permissions[name] = frozenset(members)
    return roles, permissions


def roles() -> dict[str, str]:
    """Role name -> what the role is for, in file order."""
    return _load()[0]


def permissions() -> dict[str, frozenset[str]]:
    return _load()[1]


def administrator_roles() -> tuple[str, ...]:
    """The roles that administer users (those holding ADMINISTER), in file order: the first is
    given to the first user; the last active user of these roles is never demoted."""
    return tuple(r for r in roles() if r in permissions().get(ADMINISTER, ()))


def can(role: str | None, permission: str) -> bool:
    if permission not in permissions():
        raise KeyError(f"unknown permission {permission!r}")
    return role in permissions()[permission]


def declare(view, permission: str | None):
    """Mark `view` as needing `permission` (checked by the decorators in auth.py)."""
    if permission is not None and permission not in permissions():
        raise KeyError(f"unknown permission {permission!r}")
    view.required_permission = permission
    return view


def required_permission(view) -> str | None:
    return getattr(view, "required_permission", None)
