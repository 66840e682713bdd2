"""留言 conversations between a follower and the customer-service agents, and the agents themselves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal, updated_at_column
from wxbot.models.identity import Identity

ROLES = ("agent", "admin")
STATES = ("open", "waiting", "resolved")  # open: the agents' turn; waiting: on the user; resolved
INBOUND_KINDS = ("text", "image", "voice", "video", "shortvideo", "location", "link")
# what only a mini program's customer-service chat brings: a page card, and the user entering the chat
MINIPROGRAM_KINDS = ("miniprogrampage", "tempsession")
DIRECTIONS = ("inbound", "outbound", "note")
# MEDIUMBLOB on MySQL/MariaDB: WeChat's largest media are 10 MB (images and videos; voices 2 MB)
MAX_MEDIA_BYTES = 2**24 - 1
MEDIA_BYTES_TYPE = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


class Agent(Base):
    """A customer-service agent (or admin) who logs in to the console."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(8), default="agent", nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # console sessions carry the generation they began in; deactivation moves it on, voiding them all
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # the console's language for this agent (wxbot.console.i18n.LOCALES); NULL: the default, 简体中文
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Conversation(Base):
    """One 留言 thread of one follower. At most one is unresolved per follower (open_identity_id is unique)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_state_assignee", "state", "assignee_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # the door (the person's identity: official account or mini program) they last wrote through, when not
    # identity_id's: replies go out there, in that door's window
    door_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    # identity_id while unresolved, NULL once resolved: the database refuses a second unresolved thread
    open_identity_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    # the follower said 结束: their messages no longer go into this thread
    follower_ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    # the oldest follower message no agent has answered yet (the service-level clock runs from it)
    awaiting_since: Mapped[datetime | None] = mapped_column(DateTime)
    first_user_message_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_user_message_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)  # retention; the Resolved tab
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    identity: Mapped[Identity] = relationship(foreign_keys=[identity_id])
    door_identity: Mapped[Identity | None] = relationship(foreign_keys=[door_identity_id])
    assignee: Mapped[Agent | None] = relationship()
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="conversation", order_by="TicketMessage.id", cascade="all, delete-orphan"
    )

    @property
    def reply_identity_id(self) -> int:
        """Where replies go: the door the user last wrote through."""
        return self.door_identity_id or self.identity_id

    @property
    def reply_identity(self) -> Identity:
        return self.door_identity or self.identity


class TicketMessage(Base):
    """A message in a thread: from the follower (inbound), an agent's reply (outbound) or an internal note.

    Notes have no outbox row and no code path that sends them.
    """

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), default="text", nullable=False)
    # inbound: the app (door) it came through; None: the conversation identity's app
    app_name: Mapped[str | None] = mapped_column(String(32))
    # inbound "wx:<appid>:<MsgId>": a retried WeChat delivery finds its message and adds nothing;
    # outbound/note "form:<agent>:<token>": a form submitted twice adds one message
    dedupe_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    body: Mapped[str] = mapped_column(Text, default="", nullable=False, info=personal("redact"))
    # location (latitude, longitude, label) and link (title, description, url), as JSON
    details: Mapped[str | None] = mapped_column(Text, info=personal("null"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # media (image, voice, video) fetched by jobs/media.py: pending -> stored (the bytes in TicketMedia) | failed
    media_id: Mapped[str | None] = mapped_column(String(128))
    media_status: Mapped[str | None] = mapped_column(String(8), index=True)
    media_type: Mapped[str | None] = mapped_column(String(64))
    media_error: Mapped[str | None] = mapped_column(String(255))
    media_attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # outbound: how it was sent (custom: the reply itself; template / subscribe: "a reply is waiting")
    delivery: Mapped[str | None] = mapped_column(String(16))
    notification_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # outbound: pending until WeChat took it (answered: it counts as a response) or it ended undelivered
    # (wxbot.conversations.replies.settle_outcomes)
    outcome: Mapped[str | None] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = created_at_column()

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    agent: Mapped[Agent | None] = relationship()


class TicketMedia(Base):
    """The bytes of a message's media (a follower's image, voice or video; an agent's image reply), kept in the
    database so that every web host serves what any jobs host fetched. A table of its own: loading a thread
    never loads a file. Deleting the message (its conversation erased, forgotten or past retention) deletes
    the file with it (ON DELETE CASCADE). The type it is served as is the message's media_type.

    WeChat's temporary media are at most 10 MB for images and videos and 2 MB for voices (media/upload's
    limits, which hold for what followers send: "图片（image）: 10M，语音（voice）：2M，视频（video）：10MB"),
    so MEDIUMBLOB (16 MiB) holds any of them. MySQL/MariaDB need `max_allowed_packet` of at least 32M: PyMySQL
    sends bytes as hex, twice their size, and MariaDB's default of 16M takes files up to about 8 MiB only
    (MySQL 8's default, 64M, is enough). wxbot.conversations.media refuses, in words, a file it would not take.
    """

    __tablename__ = "ticket_media"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(MEDIA_BYTES_TYPE, nullable=False, info=personal("row"))
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    stored_at: Mapped[datetime] = created_at_column()


class CannedReply(Base):
    """A reusable reply text; $variables are filled in when the agent inserts it."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
