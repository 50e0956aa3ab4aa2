"""What every meta-database model and service shares: the declarative Base, aware UTC times on
SQLite and PostgreSQL alike, and the checks that keep values PostgreSQL would refuse out."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER; SQLite overflows past 2**63


def _now() -> datetime:
    return datetime.now(UTC)


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def _text(field: str, value, limit: int) -> str:
    """A string PostgreSQL will store as given (SQLite would take anything)."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected text")
    if len(value) > limit:
        raise ValueError(f"{field}: at most {limit} characters")
    if "\x00" in value:
        raise ValueError(f"{field}: contains a NUL character")
    return value


class UTCDateTime(TypeDecorator):
    """A point in time, handed back as an aware UTC datetime on every database: PostgreSQL keeps a
    timestamptz, SQLite (no time zones) the UTC wall time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass
