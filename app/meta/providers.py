"""Integration providers in the meta database: what people say about them (owner, SLO target,
expected to be quiet at night, a note) and the last status the tracker recorded for each.

The providers themselves are discovered from `integration` events (app/integrations/registry.py);
a provider nobody annotated has no row here. `ProviderNotes(meta)` is the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Float, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ..events.convert import format_ts
from .base import Base, UTCDateTime, _now, _text

NAME_LIMIT = 256


class ProviderNote(Base):
    __tablename__ = "provider_notes"
    provider: Mapped[str] = mapped_column(String(NAME_LIMIT), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    slo_target: Mapped[float | None] = mapped_column(Float)  # uptime %, e.g. 99.9
    quiet_at_night: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    note: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")

    def as_dict(self) -> dict:
        return {
            "provider": self.provider,
            "owner": self.owner,
            "slo_target": self.slo_target,
            "quiet_at_night": self.quiet_at_night,
            "note": self.note,
            "updated_at": format_ts(self.updated_at) if self.updated_at else None,
            "updated_by": self.updated_by,
        }


class ProviderState(Base):
    """The status the tracker last recorded for a provider, since when, and when it was first
    checked or last changed (`checked_at`)."""

    __tablename__ = "provider_states"
    provider: Mapped[str] = mapped_column(String(NAME_LIMIT), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


@dataclass
class Annotation:
    owner: str = ""
    slo_target: float | None = None
    quiet_at_night: bool = False
    note: str = ""


def check_annotation(provider: str, owner, slo_target, quiet_at_night, note) -> Annotation:
    """An annotation PostgreSQL will store; ValueError names the field."""
    _text("provider", provider, NAME_LIMIT)
    if not provider:
        raise ValueError("provider: a name is required")
    owner = _text("owner", owner or "", 128).strip()
    note = _text("note", note or "", 1000).strip()
    if slo_target in (None, ""):
        target = None
    else:
        try:
            target = float(slo_target)
        except (TypeError, ValueError):
            raise ValueError("slo_target: expected a percentage such as 99.9") from None
        if not 0 < target <= 100:
            raise ValueError("slo_target: must be above 0 and at most 100")
    if not isinstance(quiet_at_night, bool):
        raise ValueError("quiet_at_night: expected true or false")
    return Annotation(owner=owner, slo_target=target, quiet_at_night=quiet_at_night, note=note)


class ProviderNotes:
    def __init__(self, meta):
        self.Session = meta.Session

    def all(self) -> dict[str, ProviderNote]:
        with self.Session() as s:
            return {n.provider: n for n in s.scalars(select(ProviderNote))}

    def get(self, provider: str) -> ProviderNote | None:
        if not isinstance(provider, str) or len(provider) > NAME_LIMIT or "\x00" in provider:
            return None
        with self.Session() as s:
            return s.get(ProviderNote, provider)

    def annotate(self, provider: str, annotation: Annotation, by: str) -> ProviderNote:
        with self.Session() as s:
            note = s.get(ProviderNote, provider) or ProviderNote(provider=provider)
            note.owner, note.slo_target = annotation.owner, annotation.slo_target
            note.quiet_at_night, note.note = annotation.quiet_at_night, annotation.note
            note.updated_at, note.updated_by = _now(), (by or "")[:64]
            s.add(note)
            s.commit()
            return note

    # -- last recorded status ----------------------------------------------------------------

    def states(self) -> dict[str, ProviderState]:
        with self.Session() as s:
            return {st.provider: st for st in s.scalars(select(ProviderState))}

    def set_state(self, provider: str, status: str, at: datetime, changed: bool) -> None:
        with self.Session() as s:
            st = s.get(ProviderState, provider)
            if st is None:
                st = ProviderState(provider=provider, status=status, since=at, checked_at=at)
            elif changed:
                st.status, st.since = status, at
            st.checked_at = at
            s.add(st)
            s.commit()
