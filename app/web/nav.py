"""The navigation bar: each entry shows only to roles with its permission (and once its page exists)."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from .. import badges
from ..access import can

ENTRIES = [
    ("web.index", "Search", "search"),
    ("web.dashboards", "Dashboards", "view_dashboards"),
    ("web.timeline", "Timeline", "view_timeline"),
    ("web.errors", "Errors", "view_errors"),
    ("web.user_actions", "User actions", "view_user_actions"),
    ("web.admin_ops", "Admin operations", "view_admin_ops"),
    ("web.api_activity", "API activity", "view_api"),
    ("web.health", "Health", "view_integrations"),
    ("web.integrations", "Integrations", "view_integrations"),
    ("web.ingest_status", "Ingest", "view_ingest"),
    ("web.alerts", "Alerts", "view_alerts"),
    ("web.tail", "Live tail", "live_tail"),
    ("web.trail", "Reading trail", "reading_trail"),
    ("web.users", "Users", "manage_users"),
]


def nav_context() -> dict:
    role = current_user.role if current_user.is_authenticated else None
    entries = [
        (endpoint, label)
        for endpoint, label, permission in ENTRIES
        if endpoint in current_app.view_functions and can(role, permission)
    ]
    firing = None
    if any(endpoint == "web.alerts" for endpoint, _ in entries) and not current_user.must_change_password:
        firing = badges.firing_count(current_app.extensions["platlogs"].meta)  # cached briefly
    return {
        "nav": entries,
        "can": lambda permission: can(role, permission),
        "firing_alerts": firing,
        "has_page": lambda endpoint: endpoint in current_app.view_functions,
    }
