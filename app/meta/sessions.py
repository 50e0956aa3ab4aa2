"""Sign-in sessions, kept on the server (table `user_sessions`) so that they can be ended there.

The signed session cookie holds only a random token (256 bits); the table holds its SHA-256 (a
copy of the table opens no session), the user, when it started and was last seen, the browser's
user agent and address. A session is live until it is revoked, idle for SESSION_IDLE or older
than SESSION_LIFETIME. What ends sessions:
- signing out (that session);
- a new password, chosen or reset (every session of the user but the one that chose it);
- deactivation (every session);
- an administrator's "sign out everywhere", or the user ending their own other sessions.
Each is written in the same transaction as the change that causes it (set_password,
reset_password, update_user in db.py), so the web pages and the command line end sessions alike.

This replaces the earlier password-hash fingerprint in the cookie: one mechanism. A cookie from
before this table existed (`<id>:<fingerprint>`) names no session and is signed out.
flask-login's remember-me cookie, were it ever set, carries the same token and is refused with it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, ForeignKey, Index, String, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session as OrmSession, mapped_column, sessionmaker

from .base import Base, UTCDateTime, _now

SESSION_IDLE = timedelta(hours=12)  # unused this long: over
SESSION_LIFETIME = timedelta(days=7)  # signed in this long ago: over, however busy
SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is written at most this often
KEEP_ENDED = timedelta(days=30)  # ended sessions are deleted after this


def session_id(token: str) -> str:
    """The stored id of a cookie's session token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class UserSession(Base):
    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # to the minute
    user_agent: Mapped[str | None] = mapped_column(String(256))
    address: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_why: Mapped[str | None] = mapped_column(String(32))  # logout, password, deactivated, admin, user

    __table_args__ = (Index("ix_user_sessions_user", "user_id", "ended_at"), Index("ix_user_sessions_seen", "last_seen_at"))

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and self.last_seen_at > now - SESSION_IDLE and self.created_at > now - SESSION_LIFETIME


def _live(now: datetime):
    return (
        (UserSession.ended_at.is_(None))
        & (UserSession.last_seen_at > now - SESSION_IDLE)
        & (UserSession.created_at > now - SESSION_LIFETIME)
    )


def end_sessions_in(s, user_id: int, why: str, keep: str | None = None, now: datetime | None = None) -> int:
    """End every live session of `user_id` but `keep` (a session id) inside the caller's
    transaction `s`; how many ended."""
    now = now or _now()
    condition = (UserSession.user_id == user_id) & _live(now)
    if keep:
        condition &= UserSession.id != keep
    return _end(s, condition, why, now)


def _end(s: OrmSession, condition: ColumnElement[bool], why: str, now: datetime) -> int:
    """End the sessions `condition` selects, in `s`'s transaction; how many ended."""
    result = s.execute(
        update(UserSession)
        .where(condition)
        .values(ended_at=now, ended_why=why[:32])
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount  # an UPDATE's result is a CursorResult (typed Result)


class Sessions:
    """MetaDB's session methods (a mixin: `meta.start_session(...)`)."""

    Session: sessionmaker[OrmSession]  # MetaDB's

    def start_session(
        self, user_id: int, user_agent: str | None = None, address: str | None = None, now: datetime | None = None
    ) -> str:
        """A new session for `user_id`: returns the token for the cookie (never stored as such)."""
        now = now or _now()
        token = secrets.token_urlsafe(32)
        with self.Session() as s:
            s.execute(
                delete(UserSession).where(
                    or_(UserSession.ended_at < now - KEEP_ENDED, UserSession.last_seen_at < now - KEEP_ENDED)
                )
            )
            s.add(
                UserSession(
                    id=session_id(token),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    user_agent=_clean(user_agent, 256),
                    address=_clean(address, 64),
                )
            )
            s.commit()
        return token

    def session_user(self, token: str, now: datetime | None = None):
        """The active user of a live session, with `.session_id` and `.session_token` set; None
        when the session is unknown, ended, expired, or its user deactivated."""
        from .db import User

        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        now = now or _now()
        with self.Session() as s:
            row = s.get(UserSession, session_id(token))
            if row is None or not row.live(now):
                return None
            user = s.get(User, row.user_id)
            if user is None or not user.active:
                return None
            s.expunge(user)  # as read: a rollback below would expire it, unreadable once the session closes
            if now - row.last_seen_at >= SEEN_RESOLUTION:
                row.last_seen_at = now
                try:
                    s.commit()
                except SQLAlchemyError:  # a busy database (locked, timed out) never fails the request
                    s.rollback()
            user.session_id, user.session_token = row.id, token
            return user

    def sessions_of(self, user_id: int, now: datetime | None = None) -> list[UserSession]:
        """The user's live sessions, the most recently seen first."""
        now = now or _now()
        with self.Session() as s:
            return list(
                s.scalars(
                    select(UserSession)
                    .where(UserSession.user_id == user_id, _live(now))
                    .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
                )
            )

    def live_session_counts(self, now: datetime | None = None) -> dict[int, int]:
        """user id -> number of live sessions (the users page)."""
        from sqlalchemy import func

        now = now or _now()
        with self.Session() as s:
            return dict(
                s.execute(select(UserSession.user_id, func.count()).where(_live(now)).group_by(UserSession.user_id)).all()
            )

    def end_session(self, sid: str, why: str, user_id: int | None = None) -> bool:
        """End one session (by its stored id); with `user_id`, only if it is that user's."""
        if not isinstance(sid, str) or len(sid) != 64:
            return False
        now = _now()
        with self.Session() as s:
            condition = (UserSession.id == sid) & _live(now)
            if user_id is not None:
                condition &= UserSession.user_id == user_id
            ended = _end(s, condition, why, now)
            s.commit()
            return bool(ended)

    def end_token_session(self, token: str, why: str = "logout") -> bool:
        return isinstance(token, str) and bool(token) and self.end_session(session_id(token), why)

    def end_sessions(self, user_id: int, why: str, keep: str | None = None) -> int:
        """End every live session of the user but `keep`; how many ended."""
        with self.Session() as s:
            count = end_sessions_in(s, user_id, why, keep)
            s.commit()
            return count


def _clean(value: str | None, limit: int) -> str | None:
    return None if not value else str(value).replace("\x00", "")[:limit]
