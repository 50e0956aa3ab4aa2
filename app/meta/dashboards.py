"""Dashboards people made in the back office (issue 14 item 3): each row holds the dashboard's
YAML text as written (validated by app/dashboards/definitions.py before it is stored), its
owner, and when it was created and last changed. The policy (who may change what, ids that
must not collide with the shipped files) lives in app/dashboards/stored.py; this is storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..events.convert import format_ts
from .base import Base, UTCDateTime, _now, _text

ID_LIMIT = 80
YAML_LIMIT = 65_536


class StoredDashboard(Base):
    __tablename__ = "stored_dashboards"
    id: Mapped[str] = mapped_column(String(ID_LIMIT), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    owner_name: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    yaml_text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, nullable=False)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "owner": self.owner_name,
            "title": self.title,
            "yaml": self.yaml_text,
            "created_at": format_ts(self.created_at),
            "updated_at": format_ts(self.updated_at),
        }


class Taken(ValueError):
    """The id is used by another stored dashboard."""


class DashboardRows:
    """Rows of stored_dashboards; values checked for PostgreSQL (lengths, NUL) before they go."""

    def __init__(self, meta):
        self.Session = meta.Session

    def all(self) -> list[StoredDashboard]:
        with self.Session() as s:
            return list(s.scalars(select(StoredDashboard).order_by(StoredDashboard.title, StoredDashboard.id)))

    def get(self, dashboard_id: str) -> StoredDashboard | None:
        if not isinstance(dashboard_id, str) or len(dashboard_id) > ID_LIMIT or "\x00" in dashboard_id:
            return None
        with self.Session() as s:
            return s.get(StoredDashboard, dashboard_id)

    def add(self, dashboard_id: str, owner_id: int, owner_name: str, title: str, text: str) -> StoredDashboard:
        row = StoredDashboard(
            id=_text("id", dashboard_id, ID_LIMIT),
            owner_id=owner_id,
            owner_name=_text("owner", owner_name, 64),
            title=_text("title", title, 200),
            yaml_text=_text("yaml", text, YAML_LIMIT),
        )
        with self.Session() as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise Taken(dashboard_id) from None
            return row

    def change(self, dashboard_id: str, title: str, text: str) -> StoredDashboard | None:
        with self.Session() as s:
            row = s.get(StoredDashboard, dashboard_id)
            if row is None:
                return None
            row.title, row.yaml_text = _text("title", title, 200), _text("yaml", text, YAML_LIMIT)
            row.updated_at = _now()
            s.commit()
            return row

    def remove(self, dashboard_id: str) -> bool:
        with self.Session() as s:
            row = s.get(StoredDashboard, dashboard_id)
            if row is None:
                return False
            s.delete(row)
            s.commit()
            return True
