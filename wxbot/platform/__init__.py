"""The signed server-to-server API for the platform: /platform/...

Signature v2 (docs/platform.md has a worked example). Every request carries
- X-Wxbot-Timestamp: unix seconds, ASCII digits only;
- X-Wxbot-Nonce: 16-64 characters of [A-Za-z0-9_-], new for every request (retries included);
- X-Wxbot-Signature: sha256=<hex>, an HMAC-SHA256 with [platform] secret over
  `timestamp "\\n" nonce "\\n" METHOD "\\n" path "\\n"` followed by the raw body, where path is the request
  target exactly as sent (path and query string).

Missing or malformed headers, a timestamp more than max_age_seconds away (either way) or a wrong signature:
401. A nonce already accepted within twice max_age_seconds (the whole window a timestamp can be accepted
in): 409 `replayed`, remembered in the shared cache so that every process refuses it. A body over
MAX_BODY_BYTES, sized or chunked: 413. Each concern adds its routes to `bp` from its own module.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge

from wxbot import clock
from wxbot.web import abort_api, services

bp = Blueprint("platform", __name__, url_prefix="/platform")

MAX_BODY_BYTES = 256 * 1024

# [0-9], not \d: \d also matches other scripts' digits (and "²" passes str.isdigit()).
_TIMESTAMP = re.compile(r"[0-9]{1,20}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PREFIX = "sha256="


def sign(secret: str, timestamp: int | str, nonce: str, method: str, path: str | bytes, body: bytes) -> str:
    """The X-Wxbot-Signature of a request; `path` with its query string as it goes on the request line."""
    target = path if isinstance(path, bytes) else path.encode()
    message = f"{timestamp}\n{nonce}\n{method.upper()}\n".encode() + target + b"\n" + body
    return _PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_target() -> bytes:
    """The path and query string as the client sent them. gunicorn (RAW_URI) and most servers (REQUEST_URI)
    pass them on; WSGI strings carry the raw bytes as latin-1."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        path = quote(
            (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1"), safe="/"
        )
        query = environ.get("QUERY_STRING", "")
        raw = path + ("?" + query if query else "")
    try:
        return str(raw).encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded the line as UTF-8 instead
        return str(raw).encode()


def _body() -> bytes:
    """The raw body, never read further than one byte over MAX_BODY_BYTES, whether sized or chunked."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort_api(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    # A chunked body has no Content-Length: the stream stops at this limit instead, one byte over the cap
    # so that a body over it shows (at the limit itself werkzeug stops quietly instead of refusing).
    request.max_content_length = MAX_BODY_BYTES + 1
    body: bytes | None
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > MAX_BODY_BYTES:
        abort_api(413, "too_large", f"body over {MAX_BODY_BYTES} bytes")
    return body


@bp.before_request
def verify_signature() -> None:
    settings = services().settings.platform
    body = _body()
    raw_ts = request.headers.get("X-Wxbot-Timestamp", "")
    nonce = request.headers.get("X-Wxbot-Nonce", "")
    given = request.headers.get("X-Wxbot-Signature", "")
    if not raw_ts or not nonce or not given:
        abort_api(401, "unsigned", "X-Wxbot-Timestamp, X-Wxbot-Nonce and X-Wxbot-Signature are required")
    if not _TIMESTAMP.fullmatch(raw_ts):
        abort_api(401, "bad_timestamp", "X-Wxbot-Timestamp: unix seconds in ASCII digits")
    if not _NONCE.fullmatch(nonce):
        abort_api(401, "bad_nonce", "X-Wxbot-Nonce: 16-64 characters of A-Z a-z 0-9 _ -")
    if abs(clock.timestamp() - int(raw_ts)) > settings.max_age_seconds:
        abort_api(401, "stale", "timestamp outside the allowed window")
    expected = sign(settings.secret, raw_ts, nonce, request.method, request_target(), body)
    if not hmac.compare_digest(expected.encode(), given.encode("latin-1")):
        abort_api(401, "bad_signature", "signature does not match")
    # Only a verified request uses its nonce up, so nobody can burn the platform's nonces in advance.
    if not services().cache.add(f"platform-nonce:{nonce}", raw_ts, ttl=2 * settings.max_age_seconds):
        abort_api(409, "replayed", "this nonce was already used; sign every request with a new one")


# Route modules: importing them adds their routes to `bp`.
from wxbot.platform import accounts, applications, bindings, campus, codes  # noqa: E402, F401
