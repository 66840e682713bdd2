"""GET /metrics on the web service, for Prometheus: bearer `[metrics] token`, else not served.

Without a token the endpoint answers 404 in production (metrics are then the jobs processes' only, on their
own bind), and answers anyone in development (the laptop server listens on the loopback).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST

from wxbot import metrics
from wxbot.metrics_state import StateCollector
from wxbot.web import services as current_services

bp = Blueprint("metrics", __name__)


def _authorised(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def scrape() -> Response:
    services = current_services()
    token = services.settings.metrics.token
    if not token and not services.settings.development:
        abort(404)
    if token and not _authorised(token):
        return Response("bearer token required", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
    return Response(metrics.exposition(StateCollector(services)), content_type=CONTENT_TYPE_LATEST)
