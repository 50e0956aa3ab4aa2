"""The meta database (SQLAlchemy): users, API keys; later saved searches, alert rules, audit state."""
from .db import ROLES, ApiKey, MetaDB, SavedSearch, User

__all__ = ["ROLES", "ApiKey", "MetaDB", "SavedSearch", "User"]
