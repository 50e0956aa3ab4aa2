"""What an API key may do: never more than the person who created it (issue 16.5).

A key acts as the key roles of app/roles.yaml its scopes gave it (ApiKey.acts_as). The account
service (accounts.create_key) refuses a scope giving a permission the creating employee's role
lacks; `key_grant`, asked at each request (app/auth.py), holds a key back to what its creator's
role may do now — a creator moved to a narrower role takes those permissions from the key, one
deactivated takes them all. Keys made on the command line (no creator: the host's operator, who
may do everything) and keys made before keys kept their roles (roles NULL, meta revision 0002:
they keep exactly what they could do) are not held back."""

from __future__ import annotations

from dataclasses import dataclass

from .. import access
from .db import ApiKey


def refuse_beyond_creator(services, user_id: int | None, scopes) -> None:
    """ValueError naming the scope and the permissions, when a scope gives one the employee
    `user_id` may not use (None: the command line, which may create any key)."""
    if user_id is None:
        return
    creator = services.meta.user(user_id)
    mine = access.permissions_of(creator.role if creator is not None and creator.active else None)
    for scope in sorted(set(scopes)):
        beyond = sorted(access.permissions_of(*access.roles_for_scopes([scope])) - mine)
        if beyond:
            raise ValueError(
                f"scope {scope}: it gives {', '.join(beyond)}, which your role may not do "
                "(a key never does more than the person who creates it)"
            )


@dataclass(frozen=True)
class KeyGrant:
    """What a key may do now: `permissions` (app/roles.yaml), and when its creator's role holds
    back some of what its key roles give, who (`limited_by`, their username)."""

    permissions: frozenset[str]
    limited_by: str | None = None


def key_grant(services, key: ApiKey) -> KeyGrant:
    """The permissions of `key`'s key roles, never more than its creator's role may do now."""
    given = access.permissions_of(*key.acts_as)
    if key.roles is None or key.created_by is None:
        return KeyGrant(given)
    creator = services.meta.user(key.created_by)
    allowed = access.permissions_of(creator.role) if creator is not None and creator.active else frozenset()
    if given <= allowed:
        return KeyGrant(given)
    return KeyGrant(given & allowed, creator.username if creator is not None else f"user #{key.created_by}")
