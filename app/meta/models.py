"""Every table of the meta database, on one declarative Base: importing this module registers
them all. The migrations (migrations/env.py) and their tests compare a database with
`metadata` from here, so a model declared in a module not listed here is caught by no test —
add its module below."""

from . import alert_tables, dashboards, db, errorgroups, providers, sessions, throttle  # noqa: F401
from .base import Base

metadata = Base.metadata
