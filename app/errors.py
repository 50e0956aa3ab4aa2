"""Errors as exceptions with a status, rendered in one JSON shape:
{"error": {"status": 400, "message": "...", ...details}}."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .machine import machine_request  # the one definition of a machine-facing request


class ApiError(Exception):
    def __init__(self, status: int, message: str, **details):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


RETRY_AFTER_S = "5"  # a 503 is a passing outage (store, reading trail): when to try again


def error_response(status: int, message: str, **details):
    response = jsonify({"error": {"status": status, "message": message, **details}})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response


def wants_json() -> bool:
    return machine_request() or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.message, **exc.details)

    from .query.ast import QueryError
    from .storage import CursorError, StoreError

    @app.errorhandler(QueryError)
    def _query_error(exc: QueryError):
        details = {k: v for k, v in exc.as_dict().items() if k != "message"}
        return error_response(400, exc.message, **details)

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError):  # the store is down or overloaded: retry later, not a bug
        return error_response(503, f"the event store cannot answer now: {exc}")

    @app.errorhandler(CursorError)
    def _cursor_error(exc: CursorError):
        return error_response(400, str(exc), field="cursor")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            return error_response(exc.code or 500, exc.description or exc.name)
        return exc
