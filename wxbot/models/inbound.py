"""What followers sent to an official account: every accepted message and event, once, with the reply given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal


class InboundMessage(Base):
    """One delivery from WeChat. (appid, dedupe_key) is unique: WeChat's retries of it find this row and are
    answered with `reply`, the reply the first delivery got (None: answered with nothing)."""

    __tablename__ = "inbound_messages"
    # received_at: the retention job deletes by it while deliveries come in
    __table_args__ = (
        UniqueConstraint("appid", "dedupe_key"),
        Index("ix_inbound_messages_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_name: Mapped[str] = mapped_column(String(32), nullable=False)
    appid: Mapped[str] = mapped_column(String(32), nullable=False)
    # MsgId for messages; a hash of sender, CreateTime, Event and EventKey for events (no openid in clear)
    dedupe_key: Mapped[str] = mapped_column(String(80), nullable=False)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    msg_type: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str | None] = mapped_column(String(64))  # lower case
    event_key: Mapped[str | None] = mapped_column(String(1024))
    msg_id: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # WeChat's CreateTime
    # every field of the delivery (Content, MediaId, Location_X, ...): what the follower wrote
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, info=personal("row"))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON, info=personal("row"))
    received_at: Mapped[datetime] = created_at_column()
