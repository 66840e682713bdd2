"""The customer-service allowance each follower action grants (wechat-platform.md §5.1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base


class ReplyWindow(Base):
    """The latest grant of one kind (message | action) for one identity: `remaining` customer-service
    messages until `expires_at`. A new trigger of the same kind replaces the grant (WeChat does not say
    that quotas add up, so we never assume they do)."""

    __tablename__ = "reply_windows"

    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
