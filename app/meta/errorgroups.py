"""The error-group registry (table `error_groups`): what the store cannot hold about a group of
errors (one fingerprint, app/events/fingerprint.py) — its status, when it was first and last seen
over all time, which group it was merged into.

Statuses: unresolved, resolved, ignored. A resolved group whose errors come back (an error newer
than the time it was resolved) is reopened: unresolved again, with `regressed_at` set (a
regression). An ignored group stays ignored. Merging group B into A makes B a member of A: A's
page, counts and status then cover B's fingerprint too (B's members move with it); merged groups
are never listed on their own.

The rows are written by app/errorgroups/sync.py (what the store holds) and by people (status,
merge) through app/errorgroups/service.py. SQLite and PostgreSQL alike (tests run on both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..events.convert import format_ts
from .base import Base, UTCDateTime, _now, _valid_id

STATUSES = ("unresolved", "resolved", "ignored")
MAX_TITLE = 256
MAX_FINGERPRINT = 64


class ErrorGroup(Base):
    __tablename__ = "error_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(MAX_FINGERPRINT), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(MAX_TITLE), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="unresolved")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=_now)  # noticed
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    regressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # reopened by new errors
    regression: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status_by: Mapped[str | None] = mapped_column(String(64))  # who set the status last
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("error_groups.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("ix_error_groups_merged", "merged_into"),
        Index("ix_error_groups_created", "created_at"),
        Index("ix_error_groups_regressed", "regressed_at"),
    )

    def as_dict(self) -> dict:
        iso = lambda t: format_ts(t) if t else None  # noqa: E731
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "title": self.title,
            "status": self.status,
            "regression": self.regression,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "created_at": iso(self.created_at),
            "resolved_at": iso(self.resolved_at),
            "regressed_at": iso(self.regressed_at),
            "status_by": self.status_by,
            "status_at": iso(self.status_at),
            "merged_into": self.merged_into,
        }


class ErrorGroupSync(Base):
    """How far the store has been read into the registry (one row)."""

    __tablename__ = "error_group_sync"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    synced_until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # event time
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # wall time


@dataclass(frozen=True)
class Seen:
    """A fingerprint's errors found in the store: title, oldest and newest error times."""

    fingerprint: str
    title: str
    first: datetime
    last: datetime


@dataclass
class Observed:
    new: list[dict]  # groups created (as_dict)
    regressions: list[dict]  # groups reopened


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _clean_title(title: str) -> str:
    title = title.replace("\x00", "")
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def observe(meta, seen: list[Seen], now: datetime | None = None) -> Observed:
    """Records what the store holds: new fingerprints become unresolved groups; known ones get
    their first and last times widened; a resolved group with an error newer than its
    resolution is reopened as a regression."""
    now = now or _now()
    out = Observed([], [])
    for item in seen:
        if not item.fingerprint or len(item.fingerprint) > MAX_FINGERPRINT or "\x00" in item.fingerprint:
            continue  # not one of ours (a value the schema cannot have produced)
        for attempt in (1, 2):  # a concurrent sync may insert the same fingerprint first
            try:
                with meta.Session() as s:
                    _observe_one(s, item, now, out)
                    s.commit()
                break
            except IntegrityError:
                if attempt == 2:
                    raise
    return out


def _observe_one(s, item: Seen, now: datetime, out: Observed) -> None:
    row = s.scalar(select(ErrorGroup).where(ErrorGroup.fingerprint == item.fingerprint))
    if row is None:
        row = ErrorGroup(
            fingerprint=item.fingerprint,
            title=_clean_title(item.title),
            status="unresolved",
            first_seen=item.first,
            last_seen=item.last,
            created_at=now,
        )
        s.add(row)
        s.flush()
        out.new.append(row.as_dict())
        return
    row.first_seen = min(row.first_seen, item.first)
    row.last_seen = max(row.last_seen, item.last)
    root = _root(s, row)
    if root is not row:
        root.last_seen = max(root.last_seen, item.last)
        root.first_seen = min(root.first_seen, item.first)
    if root.status == "resolved" and root.resolved_at is not None and item.last > root.resolved_at:
        root.status, root.regression, root.regressed_at = "unresolved", True, now
        root.status_by, root.status_at = "regression", now
        out.regressions.append(root.as_dict())


def _root(s, row: ErrorGroup) -> ErrorGroup:
    seen = {row.id}
    while row.merged_into is not None:
        parent = s.get(ErrorGroup, row.merged_into)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        row = parent
    return row


def group(meta, group_id: int) -> ErrorGroup | None:
    if not isinstance(group_id, int) or not _valid_id(group_id):
        return None
    with meta.Session() as s:
        return s.get(ErrorGroup, group_id)


def by_fingerprints(meta, fingerprints: list[str], roots: bool = True) -> dict[str, ErrorGroup]:
    """The group of each known fingerprint: the group it was merged into (`roots`), or its own row."""
    wanted = [f for f in fingerprints if isinstance(f, str) and 0 < len(f) <= MAX_FINGERPRINT and "\x00" not in f]
    out: dict[str, ErrorGroup] = {}
    with meta.Session() as s:
        for start in range(0, len(wanted), 500):
            for row in s.scalars(select(ErrorGroup).where(ErrorGroup.fingerprint.in_(wanted[start : start + 500]))):
                out[row.fingerprint] = row
        tops = {}
        for row in list(out.values()) if roots else ():
            if row.merged_into is not None:
                tops[row.fingerprint] = _root(s, row)
    out.update(tops)
    return out


def members(meta, group_id: int) -> list[str]:
    """The fingerprints of a group: its own and those merged into it (at any depth)."""
    with meta.Session() as s:
        row = s.get(ErrorGroup, group_id)
        if row is None:
            return []
        found, frontier = [row.fingerprint], [row.id]
        seen = {row.id}
        while frontier:
            children = list(s.scalars(select(ErrorGroup).where(ErrorGroup.merged_into.in_(frontier))))
            frontier = [c.id for c in children if c.id not in seen]
            seen.update(frontier)
            found += [c.fingerprint for c in children]
        return found


def groups(meta, *, status: str | None = None, limit: int = 1000) -> list[ErrorGroup]:
    """Groups not merged into another, most recently seen first."""
    with meta.Session() as s:
        query = select(ErrorGroup).where(ErrorGroup.merged_into.is_(None))
        if status:
            query = query.where(ErrorGroup.status == status)
        return list(s.scalars(query.order_by(ErrorGroup.last_seen.desc(), ErrorGroup.id).limit(limit)))


def created_between(meta, start: datetime, end: datetime) -> list[ErrorGroup]:
    """Groups first noticed in [start, end) (the 'new error group' alert)."""
    with meta.Session() as s:
        return list(
            s.scalars(
                select(ErrorGroup).where(ErrorGroup.created_at >= start, ErrorGroup.created_at < end).order_by(ErrorGroup.id)
            )
        )


def regressed_between(meta, start: datetime, end: datetime) -> list[ErrorGroup]:
    """Groups reopened as regressions in [start, end) (the 'regression' alert)."""
    with meta.Session() as s:
        return list(
            s.scalars(
                select(ErrorGroup)
                .where(ErrorGroup.regressed_at >= start, ErrorGroup.regressed_at < end)
                .order_by(ErrorGroup.id)
            )
        )


def set_status(meta, group_id: int, status: str, by: str, now: datetime | None = None) -> ErrorGroup:
    """LookupError: no such group; ValueError: an unknown status or a merged group."""
    if status not in STATUSES:
        raise ValueError(f"status: one of {', '.join(STATUSES)}")
    now = now or _now()
    with meta.Session() as s:
        row = s.get(ErrorGroup, group_id) if _valid_id(group_id) else None
        if row is None:
            raise LookupError("no such error group")
        if row.merged_into is not None:
            raise ValueError(f"group {row.id} is merged into group {row.merged_into}: set the status there")
        row.status, row.status_by, row.status_at = status, (by or "")[:64], now
        row.resolved_at = now if status == "resolved" else None
        if status != "unresolved":
            row.regression = False
        s.commit()
        return row


def merge(meta, into_id: int, other_ids: list[int], by: str) -> ErrorGroup:
    """Makes each of `other_ids` (and its members) a member of `into_id`. LookupError: a group
    that does not exist; ValueError: merging a group into itself or into one of its members."""
    with meta.Session() as s:
        into = s.get(ErrorGroup, into_id) if _valid_id(into_id) else None
        if into is None:
            raise LookupError("no such error group")
        into = _root(s, into)
        for other_id in other_ids:
            other = s.get(ErrorGroup, other_id) if _valid_id(other_id) else None
            if other is None:
                raise LookupError(f"no error group {other_id}")
            other = _root(s, other)
            if other.id == into.id:
                raise ValueError(f"group {other_id} is already group {into.id} or one of its members")
            for child in s.scalars(select(ErrorGroup).where(ErrorGroup.merged_into == other.id)):
                child.merged_into = into.id
            other.merged_into = into.id
            into.first_seen = min(into.first_seen, other.first_seen)
            into.last_seen = max(into.last_seen, other.last_seen)
        into.status_by, into.status_at = (by or "")[:64], _now()
        s.commit()
        return into


def unmerge(meta, group_id: int) -> ErrorGroup:
    """Takes a group out of the one it was merged into (it is listed on its own again)."""
    with meta.Session() as s:
        row = s.get(ErrorGroup, group_id) if _valid_id(group_id) else None
        if row is None:
            raise LookupError("no such error group")
        row.merged_into = None
        s.commit()
        return row


def sync_state(meta) -> ErrorGroupSync | None:
    with meta.Session() as s:
        return s.get(ErrorGroupSync, 1)


def set_sync_state(meta, synced_until: datetime, now: datetime | None = None) -> None:
    with meta.Session() as s:
        row = s.get(ErrorGroupSync, 1)
        if row is None:
            s.add(ErrorGroupSync(id=1, synced_until=synced_until, synced_at=now or _now()))
        else:
            row.synced_until, row.synced_at = max(row.synced_until, synced_until), now or _now()
        try:
            s.commit()
        except IntegrityError:  # another sync wrote the first row
            s.rollback()
