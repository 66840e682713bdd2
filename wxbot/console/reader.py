"""Where a follower reads the agents' replies that could not reach them in the chat: /replies/<signed token>.

The fallback template (or subscribe) message links here. The token names one conversation and expires after
[console] reply_link_days; the page shows the agents' replies only (not the follower's own messages, not
internal notes), so a forwarded link gives away as little as possible.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wxbot.conversations import conversations
from wxbot.web import db, services

reader_bp = Blueprint("reader", __name__, url_prefix="/replies")

_SALT = "wxbot-ticket-replies"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(services().settings.app.secret_key, salt=_SALT)


def reader_link(conversation_id: int, host_url: str) -> str:
    base = services().settings.console.public_url or host_url
    return f"{base.rstrip('/')}/replies/{_serializer().dumps(conversation_id)}"


@reader_bp.get("/<token>")
def read(token: str) -> Any:
    max_age = services().settings.console.reply_link_days * 86400
    try:
        conversation_id = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        abort(410, "此链接已过期，请在公众号回复「留言」联系客服。")
    except BadSignature:
        abort(404)
    conversation = conversations.get(db(), int(conversation_id))
    if conversation is None:
        abort(404)
    replies = [m for m in conversation.messages if m.direction == "outbound"]
    return render_template("console/reader.html", replies=replies)


@reader_bp.after_request
def no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
