"""The console's image replies: POST /console/c/<id>/reply-image (multipart, `image`), a PNG or JPEG of at most
MAX_IMAGE_BYTES. Refused before anything is uploaded when no chat message can reach the user now (the same
reasons as a text reply); otherwise uploaded to WeChat through the door the reply takes, then stored with its
image and queued (wxbot.conversations.image_replies)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _

from wxbot.console import act, bp
from wxbot.console.reader import reader_link
from wxbot.console.views import _conversation_page, _thread_end, conversation_or_404
from wxbot.conversations import image_replies, replies
from wxbot.errors import DomainError
from wxbot.web import db, services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

MAX_IMAGE_BYTES = 1_000_000
_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def _image() -> tuple[bytes, str] | None:
    upload = request.files.get("image")
    if upload is None:
        return None
    content = upload.stream.read(MAX_IMAGE_BYTES + 1)
    for magic, content_type in _TYPES.items():
        if content.startswith(magic) and len(content) <= MAX_IMAGE_BYTES:
            return content, content_type
    return None


@bp.post("/c/<int:conversation_id>/reply-image")
def reply_image(conversation_id: int) -> Any:
    conv = conversation_or_404(conversation_id)
    session = db()
    try:
        image_replies.check_can_send(session, conv)
    except replies.ReplyBlocked as blocked:
        session.rollback()
        return _conversation_page(conv, blocked=blocked.message), 409
    except DomainError as refusal:
        session.rollback()
        return _conversation_page(conv, error=refusal.message), 400
    found = _image()
    if found is None:
        return _conversation_page(
            conv, error=_("Send a PNG or JPEG image of at most %(size)s kB.", size=MAX_IMAGE_BYTES // 1000)
        ), 400
    content, content_type = found
    door = conv.reply_identity
    session.commit()  # nothing held open while WeChat takes the upload
    try:
        media_id = services().wechat.upload_image(door.app_name, content, content_type)
    except WeChatError as exc:
        return _conversation_page(
            conv, error=_("WeChat refused the image (errcode %(errcode)s).", errcode=exc.errcode)
        ), 502
    except WeChatUnavailable:
        return _conversation_page(conv, error=_("WeChat did not take the image; try again.")), 502
    conv = conversation_or_404(conversation_id)
    return act(
        lambda: image_replies.reply_image(
            session,
            conv,
            g.agent,
            media_id=media_id,
            content=content,
            content_type=content_type,
            form_token=request.form.get("form_token", ""),
            reader_link=reader_link(conv, request.host_url),
            timezone=services().settings.app.timezone,
        ),
        back=_thread_end(conversation_id),
        refused=lambda refusal: (_conversation_page(conv, error=refusal.message), 400),
    )
