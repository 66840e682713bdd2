"""Flask glue shared by the blueprints: the request's database session, services, and error answers."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Flask, current_app, g, jsonify
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from wxbot.services import Services


def services() -> Services:
    return current_app.extensions["wxbot"]


def db() -> Session:
    """The request's session, opened on first use and closed in teardown (flaskr style)."""
    if "db_session" not in g:
        g.db_session = services().session_factory()
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


class ApiError(Exception):
    """A JSON API refusal: {"error": {"code", "message", ...}} with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self):
        body = {"error": {"code": self.code, "message": self.message, **self.extra}}
        return jsonify(body), self.status


def abort_api(status: int, code: str, message: str, **extra: Any) -> NoReturn:
    raise ApiError(status, code, message, **extra)


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(ApiError, lambda e: e.response())

    def http_error(e: HTTPException):
        from flask import request

        if request.path.startswith(("/mp/", "/platform/")):
            code = (e.name or "error").lower().replace(" ", "_")
            return ApiError(e.code or 500, code, e.description or e.name).response()
        return e

    app.register_error_handler(HTTPException, http_error)

    def unexpected(e: Exception):
        # Never a bare 500 page with a stack trace; the log has the details (masked).
        from flask import request

        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith(("/mp/", "/platform/")):
            return ApiError(500, "internal_error", "internal error").response()
        return "internal error", 500

    app.register_error_handler(Exception, unexpected)
