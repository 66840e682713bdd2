"""Request ids: each request's id is the client's (or the proxy's) X-Request-Id when it is a short token,
else a new one; every log line of the request carries it (wxbot.logs.request_id) and the answer returns it in
X-Request-Id, so a caller, the nginx access log and wxbot's log name the same request."""

from __future__ import annotations

import re
import uuid
from contextvars import Token

from flask import Flask, Response, g, request

from wxbot.logs import request_id

HEADER = "X-Request-Id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # nginx's $request_id is 32 hex digits


def new_id() -> str:
    return uuid.uuid4().hex


def _begin() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id_token = request_id.set(given if _ACCEPTED.fullmatch(given) else new_id())


def _answer(response: Response) -> Response:
    response.headers[HEADER] = request_id.get()
    return response


def _end(_exc: BaseException | None = None) -> None:
    token: Token[str] | None = g.pop("request_id_token", None)
    if token is not None:
        request_id.reset(token)


def register(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)
