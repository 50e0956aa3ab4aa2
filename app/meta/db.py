"""Meta database models and the small service functions around them.

Runs on SQLite (one file, the default) and PostgreSQL (production, `postgresql+psycopg://`); the
tests run on both. What differs is handled here: times always come back as aware UTC datetimes,
and values PostgreSQL would refuse (over-long strings, NUL characters, ids beyond its integers)
are refused or answered before they reach the database.

Passwords: Werkzeug's scrypt (memory-hard KDF, shipped with Flask, no extra dependency).
API keys: 256-bit random tokens, stored as SHA-256 digests — a fast hash is right for
high-entropy secrets and keeps the per-request lookup one indexed query.

Around it: base.py (Base, UTC times, checks), sessions.py (server-side sign-in sessions),
throttle.py (sign-in throttling), scrub.py (free text masked on every write) — MetaDB takes the
methods of sessions and throttle as mixins, so callers keep one `meta` object — and migrate.py
(the schema: Alembic revisions in migrations/ against every table, listed in models.py).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from ..access import administrator_roles, key_scopes, roles, roles_for_scopes
from . import migrate, scrub
from .base import MAX_ID, Base, UTCDateTime, _now, _text, _valid_id  # noqa: F401  (re-exported)
from .sessions import Sessions, end_sessions_in
from .throttle import LOGIN_WINDOW, LoginFailure, Throttle, login_name, unknown_login_name  # noqa: F401

ROLES = tuple(roles())  # app/roles.yaml as it was at import (checks read roles() itself)
SCOPES = key_scopes()  # app/roles.yaml key_scopes as it was at import (checks read key_scopes() itself)
KEY_PREFIX = "plk_"


KEY_USE_RESOLUTION = timedelta(minutes=1)  # an API key's last use is written at most this often

log = logging.getLogger(__name__)


class User(UserMixin, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def get_id(self) -> str:
        """What the session cookie holds: the token of this sign-in's server-side session
        (sessions.py), set by MetaDB.start_session's caller or session_user — never the user's id."""
        token = getattr(self, "session_token", None)
        if not token:
            raise RuntimeError("a user is signed in through MetaDB.start_session / session_user only")
        return token

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display: Mapped[str] = mapped_column(String(16), nullable=False)  # first characters, to recognise it
    scopes: Mapped[str] = mapped_column(String(64), nullable=False)  # comma-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the minute (KEY_USE_RESOLUTION)
    # the key roles of app/roles.yaml it was given at creation, comma-separated ("" for none);
    # NULL: made before keys kept them (revision 0002), it acts as roles.yaml's legacy_key_scopes say
    roles: Mapped[str | None] = mapped_column(String(256))

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split(","))

    @property
    def acts_as(self) -> tuple[str, ...]:
        """The key roles (app/roles.yaml key_roles) this key acts as, sorted."""
        if self.roles is None:
            return roles_for_scopes(self.scope_set, legacy=True)
        return tuple(r for r in self.roles.split(",") if r)


class LockoutError(ValueError):
    """A change that would leave nobody able to administer users (yourself, the last administrator)."""


class SavedSearch(Base):
    """A query with its time range, private to its owner or shared with everyone of one role."""

    __tablename__ = "saved_searches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    query: Mapped[str] = mapped_column(String(4096), nullable=False)
    time_from: Mapped[str | None] = mapped_column(String(64))
    time_to: Mapped[str | None] = mapped_column(String(64))
    shared_role: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)

    def as_dict(self) -> dict:
        from ..events.convert import format_ts

        return {
            "id": self.id,
            "name": self.name,
            "q": self.query,
            "from": self.time_from,
            "to": self.time_to,
            "shared_role": self.shared_role,
            "owner_id": self.owner_id,
            "created_at": format_ts(self.created_at),
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class MetaDB(Throttle, Sessions):
    """`redactor` (app/events/redact.py): masks card numbers and secrets in free text (scrub.py);
    the default rules when not given."""

    def __init__(self, url: str, redactor=None):
        if redactor is None:
            from ..events.redact import Redactor

            redactor = Redactor.from_file()
        self.url = url
        self.redactor = redactor
        self.engine = create_engine(url, future=True, pool_pre_ping=True)
        if make_url(url).get_backend_name() == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # concurrent web workers and CLI on one file
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA busy_timeout=10000")
                conn.execute("PRAGMA foreign_keys=ON")

        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        scrub.install(self.Session, redactor)

    def upgrade(self) -> None:
        """Brings the database to the newest schema: Alembic's revisions (migrate.py), a database
        made before migrations included."""
        migrate.upgrade(self.engine)

    def check_schema(self) -> None:
        """SchemaError (a ValueError naming `platlogs db upgrade`) unless the database is at the
        newest revision."""
        migrate.check(self.engine)

    create_all = upgrade  # the name from before migrations

    # -- users ------------------------------------------------------------------------

    def create_user(
        self, username: str, role: str, password: str | None = None, must_change_password: bool = False
    ) -> tuple[User, str]:
        """The new user and its password (generated when not given)."""
        if role not in roles():
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(roles())}")
        if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("username: 1-64 letters, digits, '.', '-' or '_'")
        password = password or secrets.token_urlsafe(12)
        if len(password) < 8:
            raise ValueError("password: at least 8 characters")
        user = User(username=username, role=role, must_change_password=must_change_password)
        user.set_password(password)
        with self.Session() as s:
            s.add(user)
            try:
                s.commit()
            except IntegrityError:
                raise ValueError(f"user {username!r} already exists") from None
        return user, password

    def user(self, user_id: int) -> User | None:
        if not _valid_id(user_id):
            return None
        with self.Session() as s:
            return s.get(User, user_id)

    def user_by_name(self, username: str) -> User | None:
        if not username or len(username) > 64 or "\x00" in username:  # no such user; PostgreSQL refuses NUL
            return None
        with self.Session() as s:
            return s.scalar(select(User).where(User.username == username))

    def users(self) -> list[User]:
        with self.Session() as s:
            return list(s.scalars(select(User).order_by(User.username)))

    def set_password(self, user_id: int, password: str, must_change: bool = False, keep_session: str | None = None) -> int:
        """A new password; every session of the user ends but `keep_session` (the one that chose
        it). Returns how many sessions ended. LookupError: no such user."""
        if len(password) < 8:
            raise ValueError("password: at least 8 characters")
        with self.Session() as s:
            user = s.get(User, user_id) if _valid_id(user_id) else None
            if user is None:
                raise LookupError("no such user")
            user.set_password(password)
            user.must_change_password = must_change
            ended = end_sessions_in(s, user_id, "password", keep=keep_session)
            s.commit()
            return ended

    def record_login(self, user_id: int) -> None:
        """LookupError: no such user."""
        with self.Session() as s:
            user = s.get(User, user_id) if _valid_id(user_id) else None
            if user is None:
                raise LookupError("no such user")
            user.last_login_at = _now()
            s.commit()

    def update_user(
        self, user_id: int, *, role: str | None = None, active: bool | None = None, acting_id: int | None = None
    ) -> tuple[User, list[dict]]:
        """Change a user's role and/or active flag. Returns the user and what changed, as
        [{"field", "old", "new"}] (empty when nothing did). Refuses (LockoutError) to let
        `acting_id` demote or deactivate themselves, and to leave no active administrator.
        LookupError: no such user; ValueError: unknown role."""
        if role is not None and role not in roles():
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(roles())}")
        if not _valid_id(user_id):
            raise LookupError("no such user")
        administrators = administrator_roles()  # app/roles.yaml: the roles holding manage_users
        with self.Session() as s:
            # the user and every active administrator, locked in id order (PostgreSQL): two
            # changes that would each leave the other as the last administrator are serialised
            admins = User.role.in_(administrators) & User.active.is_(True)
            rows = s.scalars(select(User).where((User.id == user_id) | admins).order_by(User.id).with_for_update()).all()
            user = next((u for u in rows if u.id == user_id), None)
            if user is None:
                raise LookupError("no such user")
            new_role = user.role if role is None else role
            new_active = user.active if active is None else bool(active)
            removes_admin = user.role in administrators and user.active and not (new_role in administrators and new_active)
            if removes_admin and acting_id == user.id:
                raise LockoutError("You cannot demote or deactivate yourself: ask another administrator.")
            last = LockoutError(
                f"{user.username} is the last active administrator: make someone else an administrator first."
            )
            if removes_admin and not any(u.id != user.id and u.role in administrators and u.active for u in rows):
                raise last
            changes: list[dict] = []
            if new_role != user.role:
                changes.append({"field": "role", "old": user.role, "new": new_role})
                user.role = new_role
            if new_active != user.active:
                changes.append({"field": "active", "old": user.active, "new": new_active})
                user.active = new_active
                if not new_active:  # deactivation signs the user out everywhere
                    end_sessions_in(s, user.id, "deactivated")
            if removes_admin:
                # checked again after the write (SQLite takes no row locks, but its write lock is now held)
                s.flush()
                if not s.scalar(select(func.count()).select_from(User).where(admins)):
                    s.rollback()
                    raise last
            s.commit()
            return user, changes

    def reset_password(self, user_id: int) -> tuple[User, str]:
        """A new one-time password (returned, never stored in clear) the user must replace at the
        next sign-in; the user's failed sign-ins are forgotten. LookupError: no such user."""
        if not _valid_id(user_id):
            raise LookupError("no such user")
        password = secrets.token_urlsafe(12)
        with self.Session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise LookupError("no such user")
            user.set_password(password)
            user.must_change_password = True
            end_sessions_in(s, user.id, "password")
            s.commit()
        self.clear_login_failures(user.username)
        return user, password

    def ensure_admin(self) -> str | None:
        """On first start, create `admin` with a one-time password and return it; else None."""
        with self.Session() as s:
            if s.scalar(select(User.id).limit(1)) is not None:
                return None
        try:
            _, password = self.create_user("admin", administrator_roles()[0], must_change_password=True)
        except ValueError:  # another process created it first
            return None
        return password

    # -- saved searches ---------------------------------------------------------------

    def save_search(
        self, owner_id: int, name: str, query: str, time_from: str | None, time_to: str | None, shared_role: str | None
    ) -> SavedSearch:
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise ValueError("name: 1-128 characters")
        _text("name", name, 128)
        _text("q", query, 4096)
        time_from = None if time_from is None else _text("from", str(time_from), 64)
        time_to = None if time_to is None else _text("to", str(time_to), 64)
        if shared_role is not None and shared_role not in roles():
            raise ValueError(f"shared_role: one of {', '.join(roles())}")
        row = SavedSearch(
            owner_id=owner_id, name=name.strip(), query=query, time_from=time_from, time_to=time_to, shared_role=shared_role
        )
        with self.Session() as s:
            s.add(row)
            s.commit()
        return row

    def saved_searches(self, user: User) -> list[SavedSearch]:
        """The user's own searches and those shared with their role."""
        with self.Session() as s:
            return list(
                s.scalars(
                    select(SavedSearch)
                    .where((SavedSearch.owner_id == user.id) | (SavedSearch.shared_role == user.role))
                    .order_by(SavedSearch.name)
                )
            )

    def delete_saved_search(self, search_id: int, owner_id: int | None = None) -> bool:
        """Delete one saved search; with `owner_id`, only if it is that user's. (Who may delete
        whose is the account service's policy: app/meta/accounts.py.)"""
        if not _valid_id(search_id):
            return False
        with self.Session() as s:
            row = s.get(SavedSearch, search_id)
            if row is None or (owner_id is not None and row.owner_id != owner_id):
                return False
            s.delete(row)
            s.commit()
            return True

    # -- API keys ---------------------------------------------------------------------

    def create_key(self, name: str, scopes: list[str], created_by: int | None = None) -> tuple[ApiKey, str]:
        """A new key of `scopes`, given the key roles roles.yaml's key_scopes name for them now
        (kept on the key). ValueError: no scope, or one roles.yaml does not name; a bad name.
        (Who may create which key is the account service's policy: app/meta/accounts.py.)"""
        if not scopes:
            raise ValueError(f"scope: choose one or more of {', '.join(key_scopes())}")
        given = roles_for_scopes(scopes)
        _text("name", name, 128)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            name=name,
            key_hash=hash_key(key),
            display=key[:10],
            scopes=",".join(sorted(set(scopes))),
            created_by=created_by,
            roles=",".join(given),
        )
        with self.Session() as s:
            s.add(row)
            s.commit()
        return row, key

    def key_for(self, key: str) -> ApiKey | None:
        """The live key matching a presented secret, or None. Notes when it was last used (at most
        once per KEY_USE_RESOLUTION, so a busy key costs no write per request)."""
        with self.Session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            if row is None or row.revoked_at is not None:
                return None
            now = _now()
            if row.last_used_at is None or now - row.last_used_at >= KEY_USE_RESOLUTION:
                row.last_used_at = now
                try:
                    s.commit()
                except OperationalError as exc:  # a busy database never fails the request
                    s.rollback()
                    log.warning("API key %s: last use not recorded: %s", row.id, exc)
        return row

    def key(self, key_id: int) -> ApiKey | None:
        if not _valid_id(key_id):
            return None
        with self.Session() as s:
            return s.get(ApiKey, key_id)

    def keys(self) -> list[ApiKey]:
        with self.Session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke_key(self, key_id: int) -> bool:
        if not _valid_id(key_id):
            return False
        with self.Session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = _now()
            s.commit()
            return True
