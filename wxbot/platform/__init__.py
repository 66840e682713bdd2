"""The signed server-to-server API for the platform: /platform/...

Every request carries X-Wxbot-Timestamp (unix seconds) and X-Wxbot-Signature: sha256=<hex>, an
HMAC-SHA256 with [platform] secret over `timestamp + "." + raw body`. Older than max_age_seconds (either
way) or a wrong signature: 401. Each concern adds its routes to `bp` from its own module.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, request

from wxbot import clock
from wxbot.web import abort_api, services

bp = Blueprint("platform", __name__, url_prefix="/platform")

MAX_BODY_BYTES = 256 * 1024


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@bp.before_request
def verify_signature() -> None:
    settings = services().settings.platform
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort_api(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    raw_ts = request.headers.get("X-Wxbot-Timestamp", "")
    given = request.headers.get("X-Wxbot-Signature", "")
    if not raw_ts.isdigit() or not given:
        abort_api(401, "unsigned", "X-Wxbot-Timestamp and X-Wxbot-Signature are required")
    if abs(clock.timestamp() - int(raw_ts)) > settings.max_age_seconds:
        abort_api(401, "stale", "timestamp outside the allowed window")
    expected = sign(settings.secret, raw_ts, request.get_data(cache=True))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        abort_api(401, "bad_signature", "signature does not match")


# Route modules: importing them adds their routes to `bp`.
from wxbot.platform import accounts, applications, bindings, campus  # noqa: E402, F401
