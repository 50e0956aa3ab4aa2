"""The back office: pages (one blueprint, several modules) and the JSON API blueprints."""

from flask import Blueprint

web = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

from . import account, admin, alerts, control, dashboard_edit, dashboards, health, ingest_status, tail, views  # noqa: E402,F401  (each adds its routes to `web`)
from .nav import nav_context  # noqa: E402

web.app_context_processor(nav_context)
