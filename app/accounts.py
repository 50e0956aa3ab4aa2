"""Account policies the back office's pages and the command line share: ending sign-in sessions
and recording that it happened (an `admin_action` event, app/audit.py). The sessions themselves
live in the meta database (app/meta/sessions.py)."""
from __future__ import annotations

from . import audit

CLI = {"type": "service", "id": "platlogs-cli", "name": "command line"}


def _plural(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"


def sign_out_everywhere(services, user, *, who: dict, keep: str | None = None) -> int:
    """An administrator (or the command line, `who`) ends every session of `user` but `keep`
    (their own current one, when they sign themselves out elsewhere); recorded as a
    permission_change with the number of sessions before and after. Returns how many ended."""
    before = len(services.meta.sessions_of(user.id))
    ended = services.meta.end_sessions(user.id, "admin", keep=keep)
    audit.record("sessions_revoked", f"{who.get('name', who['id'])} signed employee {user.username} out "
                 f"everywhere ({_plural(ended)})", event_type="permission_change", who=who, services=services,
                 target={"type": "employee", "id": user.username, "name": user.username},
                 changes=[{"field": "sessions", "old": before, "new": before - ended}])
    return ended


def end_own_sessions(services, user, *, keep: str, only: str | None = None) -> int:
    """A user ends their other sessions (all but `keep`, the one they act from), or just `only`
    (a session id of theirs); recorded as a profile_change. Returns how many ended."""
    before = len(services.meta.sessions_of(user.id))
    if only is not None:
        ended = int(only != keep and services.meta.end_session(only, "user", user_id=user.id))
    else:
        ended = services.meta.end_sessions(user.id, "user", keep=keep)
    if ended:
        audit.record("sessions_revoked", f"{user.username} ended {_plural(ended)} of their own",
                     event_type="profile_change", services=services,
                     target={"type": "employee", "id": user.username, "name": user.username},
                     changes=[{"field": "sessions", "old": before, "new": before - ended}])
    return ended
