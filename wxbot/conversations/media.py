"""Media followers send into conversations (image, voice, video): which wait to be fetched, what became of
them. jobs/media.py fetches them from WeChat and keeps the files.

A file is kept with its type only when that type is one WeChat gives followers' images, voices and videos
(SAFE_TYPES); anything else the upstream answered (HTML, script, SVG, ...) is kept as opaque bytes, so that no
browser ever renders or runs it. The console serves the files under the same rule (wxbot.console.views).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot.models.conversations import Conversation, TicketMessage
from wxbot.models.identity import Identity

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
SAFE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp",
     "audio/amr", "audio/mpeg", "audio/mp4", "audio/x-speex", "audio/silk", "video/mp4"}
)  # fmt: skip
OPAQUE_TYPE = "application/octet-stream"


def kept_type(content_type: str | None) -> str:
    """The type a media file is kept and served as: its own when allowlisted, else opaque bytes."""
    base = (content_type or "").split(";")[0].strip().lower()
    return base if base in SAFE_TYPES else OPAQUE_TYPE


@dataclass(frozen=True)
class PendingMedia:
    message_id: int
    conversation_id: int
    app_name: str
    media_id: str
    attempts: int


def pending(session: Session, limit: int) -> list[PendingMedia]:
    rows = session.execute(
        select(TicketMessage, Identity.app_name)
        .join(Conversation, Conversation.id == TicketMessage.conversation_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .where(TicketMessage.media_status == "pending")
        .order_by(TicketMessage.id)
        .limit(limit)
    ).all()
    return [
        # the app it came through (the mini program's chat into an official account's conversation)
        PendingMedia(m.id, m.conversation_id, m.app_name or app_name, m.media_id or "", m.media_attempts)
        for m, app_name in rows
    ]


def mark_stored(session: Session, message_id: int, path: str, content_type: str) -> None:
    message = session.get(TicketMessage, message_id)
    if message is not None:  # erased meanwhile: the sweep removes the file
        message.media_status, message.media_path, message.media_type = "stored", path, kept_type(content_type)
        message.media_attempts += 1
        message.media_error = None


def mark_failed(session: Session, message_id: int, reason: str, *, final: bool) -> None:
    message = session.get(TicketMessage, message_id)
    if message is not None:
        message.media_attempts += 1
        message.media_error = reason[:255]
        if final:
            message.media_status = "failed"


def stored_paths(session: Session) -> set[str]:
    paths = session.scalars(select(TicketMessage.media_path).where(TicketMessage.media_path.is_not(None)))
    return {p for p in paths if p}
