"""Where a follower reads the agents' replies that could not reach them in the chat: /replies/<signed token>.

The fallback template (or subscribe) message links here. The token names one conversation (its id and the
second it began, so that a link never opens a later conversation that reuses the id) and expires after
[console] reply_link_days; it dies with the conversation (privacy erasure, retention): both answer 410. The
page shows the agents' replies only (not the follower's own messages, not internal notes), so a forwarded
link gives away as little as possible; it runs no script, loads only our stylesheet, is never framed and
sends no Referer. Logs name a link by its token id (wxbot.logs.link_token_id), never by the token: the
masking rewrites any /replies/<token> in a log line, the access log's included.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from flask import Blueprint, render_template
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from wxbot import clock
from wxbot.conversations import conversations
from wxbot.logs import link_token_id
from wxbot.models.conversations import Conversation
from wxbot.web import db, services

log = logging.getLogger(__name__)

reader_bp = Blueprint("reader", __name__, url_prefix="/replies")

_SALT = "wxbot-ticket-replies"


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return clock.timestamp()  # a link's age in the project's time (tests move it)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services().settings.app.secret_key, salt=_SALT, signer=_ClockSigner)


def _began(conversation: Conversation) -> int:
    return int(conversation.created_at.replace(tzinfo=UTC).timestamp())


def reader_link(conversation: Conversation, host_url: str) -> str:
    base = services().settings.console.public_url or host_url
    return f"{base.rstrip('/')}/replies/{_serializer().dumps([conversation.id, _began(conversation)])}"


def _conversation_of(payload: Any) -> Conversation | None:
    """The conversation a valid token names, while it exists."""
    if not (isinstance(payload, list) and len(payload) == 2 and all(type(v) is int for v in payload)):
        return None  # signed by us in an older form (the id alone), which cannot tell a reused id: gone
    conversation = conversations.get(db(), payload[0])
    # the database may round or truncate to the second: one second either way is the same conversation
    if conversation is None or abs(_began(conversation) - payload[1]) > 1:
        return None
    return conversation


@reader_bp.get("/<token>")
def read(token: str) -> Any:
    token_id = link_token_id(token)
    max_age = services().settings.console.reply_link_days * 86400
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        log.info("reply link %s refused: expired", token_id)
        return render_template("console/reader_gone.html", expired=True), 410
    except BadSignature:
        log.info("reply link %s refused: bad signature", token_id)
        return render_template("console/reader_gone.html", expired=False), 404
    conversation = _conversation_of(payload)
    if conversation is None:
        log.info("reply link %s refused: its conversation is gone", token_id)
        return render_template("console/reader_gone.html", expired=False), 410
    log.info("reply link %s opened (conversation %d)", token_id, conversation.id)
    replies = [m for m in conversation.messages if m.direction == "outbound"]
    return render_template("console/reader.html", replies=replies)


@reader_bp.after_request
def headers(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
