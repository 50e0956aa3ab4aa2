"""Platform Logs: the application factory."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, request
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from .config import Settings
from .errors import ApiError, register_error_handlers
from .services import Services, build_services


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """`config`: Settings, a mapping of PLATLOGS_* variables, or None to read the environment."""
    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    app = Flask(__name__, static_folder=None)  # static files are served by the web blueprint
    from .events.convert import format_ts

    app.jinja_env.globals["format_ts"] = format_ts  # the one time formatter, in every template
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
        ALERT_RULES_DIR=str(settings.rules_dir),  # PLATLOGS_RULES_DIR (config.directory_setting)
        PLATLOGS_DASHBOARDS_DIR=str(settings.dashboards_dir),  # PLATLOGS_DASHBOARDS_DIR
    )
    services = build_services(settings)
    app.extensions["platlogs"] = services
    if settings.trusted_proxies:
        # behind N reverse proxies the client's address (sign-in limits, the reading trail) and
        # scheme come from their X-Forwarded-* headers; never trusted without this setting
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]  # Flask's way

    from .auth import init_auth, request_key, uses_bearer
    from .ingest.es_views import es as es_api
    from .ingest.otlp_views import otlp as otlp_api
    from .ingest.views import api as ingest_api
    from .machine import machine_path
    from .web import web
    from .web.api import api as read_api
    from .web.dashboards import api as dashboards_api
    from .web.search_api import api as search_api

    init_auth(app, services.meta)
    from .ingest.origin_hooks import install as count_ingest

    assert services.ingest_stats is not None  # (build_services sets them)
    count_ingest(app, services.ingest_stats)  # ingest counters: first of the before-request hooks
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf():
        # Cookie-authenticated writes need the CSRF token (form field or X-CSRFToken header).
        # Skipped only on machine-facing paths, when a valid key authenticated the request (its
        # cookies are then ignored: auth.py) or when there is no signed-in user (the route answers
        # 401). Pages are never key-authenticated: an Authorization header there changes nothing.
        if not app.config.get("WTF_CSRF_ENABLED", True) or request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return
        if machine_path(request.path):  # /api/, /v1/ (OTLP), the Elasticsearch paths: app/machine.py
            if uses_bearer():
                if request_key() is None:
                    raise ApiError(401, "invalid or revoked API key")
                return
            if not current_user.is_authenticated:
                return
        csrf.protect()

    for blueprint in (ingest_api, otlp_api, es_api, read_api, search_api, dashboards_api, web):
        app.register_blueprint(blueprint)
    register_error_handlers(app)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


def services_of(app: Flask) -> Services:
    return app.extensions["platlogs"]
