"""The mini-program JSON API: /mp/<name>/... (`<name>` from [[wechat.miniprogram]]).

For route authors (preferences, applications, events, privacy), in your own module:

    from flask import g
    from wxbot.miniprogram import bp, login_required
    from wxbot.web import json_body

    @bp.get("/preferences")
    @login_required(linked=True)
    def get_preferences():
        account = g.account            # wxbot.models.Account (never None with linked=True)
        ...

and add the module to the import list at the bottom of this file. Then:
- `g.miniprogram` is the MiniProgram settings of `<name>` (an unknown name is 404 `unknown_miniprogram`
  before any view runs; views do not receive `name`).
- `@login_required` reads `Authorization: Bearer <token>` (from POST login) and sets `g.identity` (the
  mini-program Identity), `g.account` (its Account, or None when not linked yet) and `g.login` (the
  LoginSession). A missing, unknown, expired or revoked token, or one from another mini program: 401
  `invalid_token`. `@login_required(linked=True)` also needs a linked account: 403 `not_linked`.
- Refuse with `wxbot.web.abort_api(status, code, message, field=...)`: every non-2xx answer is
  {"error": {"code", "message", ...}}; bad input is 400 naming the field. A domain refusal (a wxbot.errors
  kind) needs no translation: wxbot.web answers it in the same shape with its kind's status.
- Document your routes in the OpenAPI document (wxbot/miniprogram/openapi.py, `add_paths`); the tests validate
  real answers against it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar, overload

from flask import Blueprint, g, request

from wxbot.identity import identities, logins
from wxbot.web import abort_api, db, services

bp = Blueprint("miniprogram", __name__, url_prefix="/mp/<name>")

F = TypeVar("F", bound=Callable[..., Any])

_BEARER = re.compile(r"Bearer ([A-Za-z0-9_\-]{1,128})")


@bp.url_value_preprocessor
def pick_miniprogram(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    name = (values or {}).pop("name", None)
    mp = services().settings.miniprogram(name) if isinstance(name, str) else None
    if mp is None:
        abort_api(404, "unknown_miniprogram", "no such mini program")
    g.miniprogram = mp


@bp.url_defaults
def add_name(_endpoint: str, values: dict[str, Any]) -> None:
    if "miniprogram" in g:
        values.setdefault("name", g.miniprogram.name)


@overload
def login_required(view: F) -> F: ...
@overload
def login_required(*, linked: bool = False) -> Callable[[F], F]: ...


def login_required(view: F | None = None, *, linked: bool = False) -> Any:
    """Bearer-token guard for mini-program routes; see the module doc for what it sets on `g`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            authenticate(linked=linked)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def authenticate(*, linked: bool = False) -> None:
    match = _BEARER.fullmatch(request.headers.get("Authorization", "").strip())
    login = logins.authenticate(db(), match.group(1)) if match else None
    identity = login.identity if login is not None else None
    if login is None or identity is None or identity.appid != g.miniprogram.appid:
        abort_api(401, "invalid_token", "missing, expired or revoked login token; log in again")
    account = identities.linked_account(identity)
    if linked and account is None:
        abort_api(403, "not_linked", "authorise your phone number first to link your account")
    g.login, g.identity, g.account = login, identity, account


def string_field(
    body: dict[str, Any], field: str, *, max_length: int, pattern: re.Pattern[str] | None = None
) -> str:
    """A required string field of the body, or 400 naming it."""
    value = body.get(field)
    if not isinstance(value, str) or not value:
        abort_api(400, "invalid_field", f"{field} is required and must be a non-empty string", field=field)
    if len(value) > max_length:
        abort_api(400, "invalid_field", f"{field} is longer than {max_length} characters", field=field)
    if pattern is not None and not pattern.fullmatch(value):
        abort_api(400, "invalid_field", f"{field} has an invalid format", field=field)
    return value


# Route modules: importing them adds their routes to `bp`.
from wxbot.miniprogram import applications, auth, campus, privacy  # noqa: E402, F401
