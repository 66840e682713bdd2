"""/healthz and /readyz: whether this process answers, and whether it can serve.

/healthz is liveness: the process answers HTTP (a supervisor restarts it when it does not). /readyz is
readiness, for a load balancer: the database answers, Redis answers (when configured), and the database's
schema is at the migrations' head. Each check has READY_TIMEOUT_SECONDS; a database or Redis that accepts
connections but never answers makes /readyz say so within that time, not hang with it. Not ready: 503 with
every check's finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from wxbot import migrate
from wxbot.db import error_code
from wxbot.services import Services
from wxbot.web import services as current_services

READY_TIMEOUT_SECONDS = 2.0
OK = "ok"

bp = Blueprint("health", __name__)

# Checks run here, so a hung one costs its own thread, not the request's; a few at once is plenty, and
# when hung checks fill it the next ones time out too (still not ready, still answered).
_checks = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readiness")


def _database(services: Services) -> str:
    with services.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        applied = migrate.applied(connection)
    heads = migrate.heads()
    if applied == heads:
        return OK
    if not applied:
        return "schema not migrated: run `wxbot db upgrade`"
    return f"schema at {', '.join(sorted(applied))}, the code expects {', '.join(sorted(heads))}: run `wxbot db upgrade`"


def _redis(services: Services) -> str:
    if not services.settings.redis.url:
        return OK  # the in-process cache of the embedded setup
    services.cache.ping()
    return OK


CHECKS: dict[str, Callable[[Services], str]] = {"database": _database, "redis": _redis}


def readiness(services: Services, timeout: float = READY_TIMEOUT_SECONDS) -> dict[str, str]:
    """Each check's finding: "ok", or what is wrong in a few words (no secrets: URLs are not repeated)."""
    deadline = time.monotonic() + timeout  # the checks run at once: the answer takes `timeout` at most
    running = {name: _checks.submit(check, services) for name, check in CHECKS.items()}
    found = {}
    for name, future in running.items():
        try:
            found[name] = future.result(timeout=max(deadline - time.monotonic(), 0))
        except FutureTimeout:
            found[name] = f"no answer within {timeout:g} s"
        except DBAPIError as exc:
            found[name] = f"unavailable (error {error_code(exc) or type(exc.orig).__name__})"
        except Exception as exc:  # the check's failure is its finding
            found[name] = f"unavailable ({type(exc).__name__})"
    return found


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks = readiness(current_services())
    ready = all(finding == OK for finding in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503
