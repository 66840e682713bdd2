"""Media followers send into conversations (image, voice, video): which wait to be fetched, what became of
them, and the files themselves. jobs/media.py fetches them from WeChat; the bytes are kept in the database
(TicketMedia), so the console on any host serves what a jobs process on any other host fetched.

A file is kept with its type only when that type is one WeChat gives followers' images, voices and videos
(SAFE_TYPES); anything else the upstream answered (HTML, script, SVG, ...) is kept as opaque bytes, so that no
browser ever renders or runs it. The console serves the files under the same rule (wxbot.console.views).
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from wxbot.conversations import agents
from wxbot.db import is_mysql
from wxbot.errors import Conflict, NotFound
from wxbot.models.conversations import MAX_MEDIA_BYTES, Agent, Conversation, TicketMedia, TicketMessage
from wxbot.models.identity import Identity
from wxbot.texts import N_
from wxbot.wechat.errors import DAILY_QUOTA, MEDIA_ID_INVALID, MINUTE_LIMIT, SYSTEM_BUSY

# WeChat's answers worth another try on the next run (the job gives up after a few)
TRANSIENT = frozenset({SYSTEM_BUSY, MINUTE_LIMIT, DAILY_QUOTA})
UNAVAILABLE = "unavailable"  # media_error when WeChat did not answer
TOO_LARGE = "too_large"  # media_error when the database would not take the file (largest_kept)
MISSING = "missing"  # media_error when the file was not on the disk that moved into the database
# what a failure means, for the agents (media_error holds "wechat:<errcode>" or one of the three above)
PROBLEMS = {
    f"wechat:{MEDIA_ID_INVALID}": N_(
        "WeChat no longer has this file: it keeps what a follower sends for 3 days."
    ),
    f"wechat:{SYSTEM_BUSY}": N_("WeChat was busy and did not hand over the file."),
    f"wechat:{MINUTE_LIMIT}": N_("WeChat's limit on fetching files was reached for the moment."),
    f"wechat:{DAILY_QUOTA}": N_("WeChat's daily limit on fetching files was reached."),
    UNAVAILABLE: N_("WeChat did not answer in time."),
    TOO_LARGE: N_("The file is larger than the database may keep."),
    MISSING: N_(
        "This file was not found when files moved into the database; fetching it again works while WeChat still keeps it (3 days after it was sent)."
    ),
}

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
SAFE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp",
     "audio/amr", "audio/mpeg", "audio/mp4", "audio/x-speex", "audio/silk", "video/mp4"}
)  # fmt: skip
OPAQUE_TYPE = "application/octet-stream"
# what one INSERT carries besides the file (MySQL/MariaDB's max_allowed_packet, largest_kept)
PACKET_HEADROOM = 64 * 1024

log = logging.getLogger(__name__)


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


def file_name(message_id: int, content_type: str) -> str:
    """The name a file is served under: the message's id and the extension of the type it is served as."""
    return f"{message_id}{mimetypes.guess_extension(content_type) or '.bin'}"


def largest_kept(session: Session) -> int:
    """The largest file the database takes: the column's size and, on MySQL/MariaDB, what max_allowed_packet
    lets one INSERT carry (PyMySQL sends bytes as hex, twice their size)."""
    if not is_mysql(session):
        return MAX_MEDIA_BYTES
    packet = int(session.execute(text("SELECT @@max_allowed_packet")).scalar_one())
    return min(MAX_MEDIA_BYTES, (packet - PACKET_HEADROOM) // 2)


def keep(session: Session, message: TicketMessage, content: bytes, content_type: str) -> None:
    """The message's file, kept in the database in the caller's transaction: the message says it is stored."""
    message.media_status, message.media_type = "stored", kept_type(content_type)
    message.media_error = None
    session.add(TicketMedia(message_id=message.id, content=content, size=len(content)))


def mark_stored(session: Session, message_id: int, content: bytes, content_type: str) -> bool:
    """A fetched file, kept with its message's new state in one transaction; False when nothing was kept."""
    message = session.get(TicketMessage, message_id)
    if message is None or message.media_status != "pending":  # erased or fetched meanwhile
        return False
    largest = largest_kept(session)
    if len(content) > largest:
        log.warning("media of message %d: %d bytes, the database takes %d (max_allowed_packet, "
                    "docs/operations.md)", message_id, len(content), largest)  # fmt: skip
        mark_failed(session, message_id, TOO_LARGE, final=True)
        return False
    message.media_attempts += 1
    keep(session, message, content, content_type)
    return True


def mark_failed(session: Session, message_id: int, reason: str, *, final: bool) -> None:
    message = session.get(TicketMessage, message_id)
    if message is not None:
        message.media_attempts += 1
        message.media_error = reason[:255]
        if final:
            message.media_status = "failed"


def problem(media_error: str | None) -> str:
    """A failed fetch in words (a text of the catalogs)."""
    return PROBLEMS.get(media_error or "", N_("WeChat would not hand over the file."))


def fetch_again(session: Session, conversation: Conversation, agent: Agent, message_id: int) -> None:
    """An agent asks for a failed file once more: it is pending again, with its attempts afresh."""
    message = next((m for m in conversation.messages if m.id == message_id), None)
    if message is None or message.kind not in MEDIA_KINDS:
        raise NotFound("media_not_found", N_("no such media in this conversation"))
    if message.media_status != "failed":
        raise Conflict("media_not_failed", N_("this file did not fail: nothing to fetch again"))
    if not message.media_id:  # an agent's image reply: WeChat was never asked for it
        raise Conflict("media_not_fetchable", N_("this file did not come from WeChat: it cannot be fetched"))
    message.media_status, message.media_attempts, message.media_error = "pending", 0, None
    agents.audit_conversation(
        session, agent, "conversation.media_refetch", conversation, f"message:{message_id}"
    )


def stored(session: Session, message_id: int) -> tuple[TicketMessage, TicketMedia] | None:
    """A stored file with its message (for the console to serve), or None."""
    row = session.execute(
        select(TicketMessage, TicketMedia)
        .join(TicketMedia, TicketMedia.message_id == TicketMessage.id)
        .where(TicketMessage.id == message_id, TicketMessage.media_status == "stored")
    ).first()
    return (row[0], row[1]) if row is not None else None
