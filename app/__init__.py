"""Platform Logs: the application factory."""
from __future__ import annotations

from typing import Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from .config import Settings
from .errors import register_error_handlers
from .services import Services, build_services


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """`config`: Settings, a mapping of PLATLOGS_* variables, or None to read the environment."""
    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    app = Flask(__name__, static_folder=None)  # static files are served by the web blueprint
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,
    )
    services = build_services(settings)
    app.extensions["platlogs"] = services

    from .auth import init_auth
    from .ingest.views import api as ingest_api
    from .web.api import api as read_api
    from .web.views import web

    init_auth(app, services.meta)
    csrf = CSRFProtect(app)
    csrf.exempt(ingest_api)  # API routes authenticate with bearer keys, not cookies
    csrf.exempt(read_api)
    app.register_blueprint(ingest_api)
    app.register_blueprint(read_api)
    app.register_blueprint(web)
    register_error_handlers(app)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


def services_of(app: Flask) -> Services:
    return app.extensions["platlogs"]
