"""The users' privacy requests (tracked against the 15-day promise) and the retention job's runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import personal

REQUEST_KINDS = ("export", "correction", "deletion", "cancellation", "withdrawal")
# pending: waiting for staff or for the review period; completed; revoked (by the user); rejected (by staff)
REQUEST_STATUSES = ("pending", "completed", "revoked", "rejected")


class PrivacyRequest(Base):
    """One request a user made about their data. `detail` names what, never the data itself."""

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(
        String(32), nullable=False
    )  # miniprogram | official_account | console
    detail: Mapped[str] = mapped_column(String(255), default="", nullable=False)  # e.g. "conversations: 3"
    # the user's own words, for a request staff must handle by hand
    message: Mapped[str | None] = mapped_column(Text, info=personal("null"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # the policy's 15 days
    # cancellation: when the review period ends and the erasure may run
    effective_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    handled_by: Mapped[str | None] = mapped_column(String(64))  # "user", "system", "admin:3"


class RetentionRun(Base):
    """What one retention rule did on one run: counts, never content."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    data_class: Mapped[str] = mapped_column(String(64), nullable=False)
    cutoff: Mapped[datetime | None] = mapped_column(DateTime)
    deleted: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    anonymised: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(String(128))  # the exception's class, or "no_rule"
