"""Flask glue shared by the blueprints: the request's database session, services, and error answers."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Flask, current_app, g, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from wxbot import errors
from wxbot.services import Services

# The JSON edges' statuses for the domain's kinds of refusal (wxbot.errors); the only place they are chosen.
STATUS_OF_KIND: dict[type[errors.DomainError], int] = {
    errors.Invalid: 400,
    errors.Refused: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.Unavailable: 503,
}


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


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 (the /mp and /platform edges)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort_api(400, "invalid_json", "body must be a JSON object")
    return body


def status_of(error: errors.DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF_KIND:
            return STATUS_OF_KIND[kind]  # type: ignore[index]
    return 400


def api_error(error: errors.DomainError) -> ApiError:
    """A domain refusal as the JSON APIs answer it: {"error": {"code", "message", **details}}."""
    return ApiError(status_of(error), error.code, error.message, **error.details)


def register_errorhandlers(app: Flask) -> None:
    app.register_error_handler(ApiError, lambda e: e.response())
    # A domain refusal that reaches here unhandled came from a JSON edge (the console and the callback map
    # theirs themselves): answer it in the JSON error shape.
    app.register_error_handler(errors.DomainError, lambda e: api_error(e).response())

    def http_error(e: HTTPException):
        if request.path.startswith(("/mp/", "/platform/")):
            code = (e.name or "error").lower().replace(" ", "_")
            return ApiError(e.code or 500, code, e.description or e.name).response()
        return e

    app.register_error_handler(HTTPException, http_error)

    def unexpected(e: Exception):
        # Never a bare 500 page with a stack trace; the log has the details (masked).
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith(("/mp/", "/platform/")):
            return ApiError(500, "internal_error", "internal error").response()
        return "internal error", 500

    app.register_error_handler(Exception, unexpected)
