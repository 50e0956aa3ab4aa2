"""Sign-in throttling, shared by every web worker process through the meta database.

Failures are counted per sign-in name and per remote address over a sliding window; past a
limit, attempts are refused (429) without the password being checked.

The sign-in name counted and recorded is never the raw text of an unknown username: people type
passwords into the username box. An existing username is itself; anything else becomes a
pseudonym, `unknown:` and an HMAC of the typed text keyed with the application's secret — the
same text always gives the same pseudonym (so the per-name limit and the brute-force alert rule,
which groups failed sign-ins by actor.id, still work) and the text cannot be read back from it
(nor guessed offline without the secret). `:` never occurs in a real username."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session as OrmSession, mapped_column, sessionmaker

from .base import Base, UTCDateTime, _now

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20

UNKNOWN_PREFIX = "unknown:"


def login_name(typed) -> str:
    """A typed username as it is counted and recorded: at most 64 characters, no NUL."""
    return str(typed or "").replace("\x00", "\ufffd")[:64]


def unknown_login_name(typed, secret: str) -> str:
    """The pseudonym counted and recorded for a username that does not exist."""
    digest = hmac.new(
        secret.encode(), b"sign-in name\x00" + str(typed or "").encode("utf-8", "replace"), hashlib.sha256
    ).hexdigest()
    return UNKNOWN_PREFIX + digest[:24]


def _address(address: str | None) -> str:
    return (address or "unknown").replace("\x00", "")[:64]


class LoginFailure(Base):
    """One failed sign-in: shared by every web worker process, so the limits hold across them.
    Rows older than LOGIN_WINDOW are deleted whenever a failure is recorded."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)  # a username, or a pseudonym (never the typed text)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
        Index("ix_login_failures_at", "at"),
    )


class Throttle:
    """MetaDB's sign-in throttling methods (a mixin: `meta.login_retry_after(...)`). `username`:
    the sign-in name (an existing username, or `unknown_login_name(...)`)."""

    Session: sessionmaker[OrmSession]  # MetaDB's

    def login_retry_after(self, username: str, address: str | None, now: datetime | None = None) -> int | None:
        """Seconds until `username` may try to sign in again from `address`, or None when it may
        now: at most MAX_FAILURES_PER_USERNAME failures for the username and
        MAX_FAILURES_PER_ADDRESS from the address within LOGIN_WINDOW."""
        now = now or _now()
        waits = []
        with self.Session() as s:
            for column, value, limit in (
                (LoginFailure.username, login_name(username), MAX_FAILURES_PER_USERNAME),
                (LoginFailure.address, _address(address), MAX_FAILURES_PER_ADDRESS),
            ):
                # the limit-th newest failure in the window: the count falls below the limit when it leaves
                oldest = s.scalar(
                    select(LoginFailure.at)
                    .where(column == value, LoginFailure.at > now - LOGIN_WINDOW)
                    .order_by(LoginFailure.at.desc())
                    .offset(limit - 1)
                    .limit(1)
                )
                if oldest is not None:
                    waits.append(max(1, math.ceil((oldest + LOGIN_WINDOW - now).total_seconds())))
        return max(waits) if waits else None

    def record_login_failure(self, username: str, address: str | None, now: datetime | None = None) -> None:
        """Count one failed sign-in; failures past the window are deleted at the same time."""
        now = now or _now()
        with self.Session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.at <= now - LOGIN_WINDOW))
            s.add(LoginFailure(username=login_name(username), address=_address(address), at=now))
            s.commit()

    def clear_login_failures(self, username: str) -> None:
        """A successful sign-in (or a password reset) forgets the username's failures."""
        with self.Session() as s:
            s.execute(delete(LoginFailure).where(LoginFailure.username == login_name(username)))
            s.commit()

    def login_failure_count(self) -> int:
        with self.Session() as s:
            return s.scalar(select(func.count()).select_from(LoginFailure)) or 0
