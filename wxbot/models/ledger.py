"""Consents (what the user agreed to, under which policy version) and the audit log (who did what)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import created_at_column


class Consent(Base):
    """One consent given; withdrawn_at set when withdrawn. A new grant after a withdrawal is a new row."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_account_kind", "account_id", "kind", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    # privacy_policy | phone | event_data | organiser_sharing | status_reminders
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    scope: Mapped[str] = mapped_column(String(64), default="", nullable=False)  # e.g. the event id
    policy_version: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(
        String(32), nullable=False
    )  # official_account | miniprogram | platform
    given_at: Mapped[datetime] = created_at_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """Who did what to whom, never the personal data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = created_at_column()
    actor: Mapped[str] = mapped_column(
        String(64), nullable=False
    )  # "agent:12", "admin:3", "user:acc:5", "system"
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. conversation.view, phone.reveal
    subject_type: Mapped[str] = mapped_column(
        String(32), nullable=False
    )  # account, identity, conversation, ...
    subject_id: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[str] = mapped_column(String(255), default="", nullable=False)  # no personal data here
