"""Mini-program logins: the bearer tokens we hand out, and WeChat's session_key kept for the legacy decrypt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal
from wxbot.models.identity import Identity


class LoginSession(Base):
    """One login of a mini-program identity. Only the SHA-256 of the token is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True, nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    identity: Mapped[Identity] = relationship()


class SessionKey(Base):
    """WeChat's session_key from the identity's latest login (a newer wx.login replaces it), encrypted."""

    __tablename__ = "wxa_session_keys"

    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    session_key_enc: Mapped[str] = mapped_column(Text, nullable=False, info=personal("row", encrypted=True))
    obtained_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
