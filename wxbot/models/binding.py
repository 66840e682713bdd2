"""One-time binding tokens: proof, issued by us, that lets a WeChat identity join a platform account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import created_at_column

PURPOSES = (
    "follower_link",  # 绑定 on the official account: the follower's identity joins the account of whoever redeems it
    "account_qr",  # POST /platform/bind-qr: whoever follows or scans the QR code joins the platform's account
)


class BindingToken(Base):
    """Only the SHA-256 of the token is stored; used_at makes it one-time."""

    __tablename__ = "binding_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    # follower_link: the follower who asked; account_qr: the official account whose QR code carries it
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    app_name: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
