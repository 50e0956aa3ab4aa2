"""The meta database (SQLAlchemy): users, their sessions, API keys, saved searches, sign-in
throttling, the alerting tables (alert_tables.py). Free text is scrubbed on the way in (scrub.py)."""
from .db import ROLES, ApiKey, MetaDB, SavedSearch, User
from .sessions import UserSession
from . import providers as _providers  # noqa: E402,F401  provider notes and states (issue 14), on this Base
from . import dashboards as _dashboards  # noqa: E402,F401  dashboards made in the back office (issue 14), on this Base

__all__ = ["ROLES", "ApiKey", "MetaDB", "SavedSearch", "User", "UserSession"]
