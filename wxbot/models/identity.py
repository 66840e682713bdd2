"""Accounts (people on the platform) and identities (their WeChat faces, one per app and openid)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal, updated_at_column

REMINDER_CHOICES = ("all", "key", "off")


class Account(Base):
    """A platform account. The phone number is its key on our side: stored encrypted, found by keyed hash."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_account_id: Mapped[str | None] = mapped_column(String(64), unique=True, info=personal("null"))
    phone_enc: Mapped[str | None] = mapped_column(Text, info=personal("null", encrypted=True))
    phone_hash: Mapped[str | None] = mapped_column(String(64), unique=True, info=personal("null"))
    reminder_pref: Mapped[str] = mapped_column(String(8), default="all", nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)  # active|cancelled
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    identities: Mapped[list[Identity]] = relationship(back_populates="account")


class Identity(Base):
    """(app, openid) with an optional unionid; linked to an Account once proven."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("appid", "openid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_name: Mapped[str] = mapped_column(String(32), nullable=False)
    appid: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # official | miniprogram
    openid: Mapped[str] = mapped_column(String(64), nullable=False, info=personal("pseudonym"))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True, info=personal("null"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    # official-account followers
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    subscribed_at: Mapped[datetime | None] = mapped_column(DateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)  # retention
    subscribe_scene: Mapped[str | None] = mapped_column(String(64), info=personal("null"))
    last_interaction_at: Mapped[datetime | None] = mapped_column(DateTime)
    # unionid lookup (user/info) is done by a job; this says when it last ran for this follower
    unionid_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The customer-service allowance the follower's latest message and latest action granted
    # (wxbot.conversations.reply_window): `remaining` messages until `expires_at`. A new trigger of the same
    # kind replaces the grant (WeChat does not say that quotas add up). Kept on this row so that the
    # statement recording a delivery's interaction records its window too.
    message_window_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    message_window_remaining: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    action_window_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    action_window_remaining: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    account: Mapped[Account | None] = relationship(back_populates="identities")


class FollowerSync(Base):
    """`wxbot followers sync` of one official account: where its walk of user/get stands (resumed from
    next_openid after a crash) and what it has done so far."""

    __tablename__ = "follower_syncs"

    app_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # the follower whose openid is user/get's next_openid for the next page (None: the first page); pages up
    # to them are done. An id, not the openid: this table holds nothing about a person.
    after_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    total: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # followers, as user/get said
    listed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    unionids: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    left: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # listed, then gone by batchget
    calls: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = updated_at_column()
