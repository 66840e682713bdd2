"""The agent console: /console, Jinja pages for customer-service agents.

Sessions live in the shared cache under a random token; the browser holds the token in a cookie scoped to
/console (HttpOnly, SameSite=Strict), so it never travels to /mp, /platform or anything else. Every POST
carries the session's CSRF token (the login form a double-submit token). Failed logins are limited per
username and per address (wxbot.console.login_limits).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import ServiceUnavailable, default_exceptions
from werkzeug.wrappers import Response

from wxbot import clock
from wxbot.cache import CacheUnavailable
from wxbot.console.login_limits import LoginLimits
from wxbot.conversations import agents
from wxbot.errors import DomainError
from wxbot.models.conversations import Agent
from wxbot.web import db, services, status_of

PREFIX = "/console"
bp = Blueprint("console", __name__, url_prefix=PREFIX, static_folder="../static/console",
               static_url_path="/static")  # fmt: skip

COOKIE = "wxbot_console"
LOGIN_COOKIE = "wxbot_console_login"
PUBLIC_ENDPOINTS = ("console.login", "console.static")
# asked by the page itself (wxbot.console.live): they neither keep an idle session alive nor redirect
PASSIVE_ENDPOINTS = ("console.live_inbox", "console.live_conversation")

F = TypeVar("F", bound=Callable[..., Any])


def _session_key(token: str) -> str:
    # the cache holds a hash of the cookie, so a cache dump does not hand out live sessions
    return "console:session:" + hashlib.sha256(token.encode()).hexdigest()


def _idle_seconds() -> int:
    return int(services().settings.console.session_hours * 3600)


def start_session(response: Response, agent: Agent) -> None:
    previous = request.cookies.get(COOKIE)
    if previous:  # a fresh token at every login: a planted or older cookie never becomes a live session
        services().cache.delete(_session_key(previous))
    token = secrets.token_urlsafe(32)
    now = clock.timestamp()
    data = {"agent_id": agent.id, "generation": agent.session_generation, "csrf": secrets.token_urlsafe(32),
            "started": now, "seen": now}  # fmt: skip
    services().cache.set(_session_key(token), json.dumps(data), ttl=_idle_seconds())
    _set_cookie(response, COOKIE, token)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)


def end_session(response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        services().cache.delete(_session_key(token))
    response.delete_cookie(COOKIE, path=PREFIX)


def _set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        secure=services().settings.console.secure_cookie,
    )


@bp.before_request
def load_session() -> Response | None:
    g.agent = None
    token = request.cookies.get(COOKIE, "")
    ended = _resume(token) if token else None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if g.agent is None:
        if ended is not None and request.endpoint not in PASSIVE_ENDPOINTS:
            # the agent had a session: back to the login page, told why it ended, and then back to the page
            # they were on (a form's page: its draft is kept in the browser)
            target = request.full_path.rstrip("?") if request.method == "GET" else _referring_page()
            response = redirect(
                url_for("console.login", next=target, ended=ended), 302 if request.method == "GET" else 303
            )
            response.delete_cookie(COOKIE, path=PREFIX)
            return response
        if request.method == "GET" and request.endpoint not in PASSIVE_ENDPOINTS:
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401, _("Your session has ended: log in again."))
    if request.method == "POST":
        _check_csrf(g.csrf)
    return None


def _referring_page() -> str | None:
    """The console page a form was sent from (browsers send same-origin referrers: Referrer-Policy)."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host or not parts.path.startswith(PREFIX + "/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _resume(token: str) -> str | None:
    """Take up the session of `token` (g.agent), or say why it is over: "idle" (no request for
    [console] session_hours), "lifetime" (older than session_lifetime_hours) or "ended" (expired, logged out,
    the agent deactivated). The times are wxbot.clock's; the cache's expiry only clears what is left."""
    key, cache, console = _session_key(token), services().cache, services().settings.console
    raw = cache.get(key)
    if raw is None:
        return "ended"
    data = json.loads(raw)
    now = clock.timestamp()
    agent = db().get(Agent, data["agent_id"])
    if agent is None or not agent.active or data.get("generation") != agent.session_generation:
        ended = "ended"  # the agent was deactivated (or removed) since: this session is over for good
    elif now - data.get("seen", now) > _idle_seconds():
        ended = "idle"
    elif now - data.get("started", now) > console.session_lifetime_hours * 3600:
        ended = "lifetime"
    else:
        g.agent, g.csrf, g.session_key = agent, data["csrf"], key
        seen = data.get("seen", now) if request.endpoint in PASSIVE_ENDPOINTS else now
        cache.set(
            key, json.dumps({**data, "seen": seen, "started": data.get("started", now)}), _idle_seconds()
        )
        return None
    cache.delete(key)
    return ended


def _check_csrf(expected: str) -> None:
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(
            400,
            _("The form is missing its security token or it is out of date. Reload the page and try again."),
        )


def admin_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.agent.role != "admin":
            abort(403, _("Only an admin may do this."))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/"):
        return url_for("console.inbox")
    return target or url_for("console.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if g.agent is not None:
            return redirect(safe_next(request.args.get("next")))
        ended = request.args.get("ended")
        return _login_page(
            {"idle": "ended_idle", "lifetime": "ended_lifetime", "ended": "ended"}.get(ended or "")
        )
    _check_csrf(request.cookies.get(LOGIN_COOKIE, ""))
    username = request.form.get("username", "").strip().lower()[:64]
    password = request.form.get("password", "")[:256]
    if not username or not password:
        return _login_page("missing", 400)
    attempts = LoginLimits(services().cache, services().settings.console, username, request.remote_addr or "")
    with attempts.turn() as ours:
        if not ours:  # another attempt on this username right now
            return _login_page("busy", 429, wait=1)
        waiting = attempts.wait_seconds()
        if waiting is not None:
            return _login_page(f"locked_{waiting[0]}", 429, wait=waiting[1])
        session = db()
        agent = agents.authenticate(session, username, password)
        if agent is None:
            return _login_page("wrong", 401, wait=attempts.failed())
        session.commit()
        attempts.succeeded()
    response = redirect(safe_next(request.form.get("next")))
    start_session(response, agent)
    return response


def _login_page(problem: str | None = None, status: int = 200, *, wait: int = 0) -> Response:
    """The login form; `problem` names what the template tells the agent, `wait` how long to wait (s)."""
    csrf = secrets.token_urlsafe(32)
    body = render_template("console/login.html", problem=problem, wait_minutes=-(-wait // 60), csrf=csrf,
                           next=request.values.get("next", ""), console=services().settings.console)  # fmt: skip
    response = Response(body, status=status, mimetype="text/html")
    if wait and status == 429:
        response.headers["Retry-After"] = str(wait)
    _set_cookie(response, LOGIN_COOKIE, csrf)
    return response


@bp.post("/logout")
def logout() -> Response:
    response = redirect(url_for("console.login"))
    end_session(response)
    return response


@bp.after_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault(  # the media view sets a stricter one of its own
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    )
    if services().settings.console.secure_cookie:  # served over HTTPS: browsers keep to it from now on
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def notice(text: str, kind: str = "ok") -> None:
    """A one-time message for the agent's next page (kept with the session, not in a cookie)."""
    key = g.session_key + ":notices"
    cache = services().cache
    notices = json.loads(cache.get(key) or "[]")
    cache.set(key, json.dumps([*notices, [kind, text]][-5:]), ttl=300)


def act(
    action: Callable[[], object],
    *,
    back: str,
    done: str | None = None,
    refused: Callable[[DomainError], Any] | None = None,
) -> Any:
    """A form's domain action, and how the console answers it: committed, the agent goes `back` (told
    `done`); refused (a DomainError), rolled back and the agent goes `back` told why, or sees `refused(e)`."""
    session = db()
    try:
        action()
    except DomainError as refusal:
        session.rollback()
        if refused is not None:
            return refused(refusal)
        notice(refusal.message, "error")
    else:
        session.commit()
        if done is not None:
            notice(done)
    return redirect(back)


@bp.errorhandler(DomainError)
def refusal_page(refusal: DomainError) -> Any:
    """A refusal outside a form's `act`: the error page, with the status of its kind."""
    db().rollback()
    error = default_exceptions[status_of(refusal)](refusal.message)
    return render_template("console/error.html", error=error), error.code


@bp.errorhandler(CacheUnavailable)
def cache_down(_exc: Exception) -> Any:
    """Sessions and login limits live in the shared cache: without it the console is closed (wxbot.cache)."""
    db().rollback()
    error = ServiceUnavailable(_("The console is unavailable; try again shortly."))
    return render_template("console/error.html", error=error), 503


def take_notices() -> list[tuple[str, str]]:
    if g.get("session_key") is None:
        return []
    key = g.session_key + ":notices"
    raw = services().cache.get(key)
    if raw is None:
        return []
    services().cache.delete(key)
    return [(kind, text) for kind, text in json.loads(raw)]


@bp.app_context_processor
def console_globals() -> dict[str, Any]:
    return {"current_agent": g.get("agent"), "csrf_token": lambda: g.get("csrf", ""), "notices": take_notices}


from wxbot.console import i18n, images, limits, live, views  # noqa: E402,F401  (routes register on bp)
