"""The meta database (SQLAlchemy): users, their sessions, API keys, saved searches, sign-in
throttling, the alerting tables (alert_tables.py), provider notes, error groups, dashboards made in
the back office — every table registered on one Base by models.py, its schema kept by Alembic
revisions (migrate.py, migrations/). Free text is scrubbed on the way in (scrub.py)."""

from . import models as _models  # noqa: F401  every table on the Base, whoever imports the package
from .db import ROLES, ApiKey, MetaDB, SavedSearch, User
from .sessions import UserSession

__all__ = ["ROLES", "ApiKey", "MetaDB", "SavedSearch", "User", "UserSession"]
