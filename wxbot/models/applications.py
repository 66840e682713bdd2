"""Job applications as the platform reports them, and every status change it sent (the idempotency record)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal, updated_at_column
from wxbot.models.outbox import Notification


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_application_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True, nullable=False
    )
    job_title: Mapped[str] = mapped_column(String(200), nullable=False, info=personal("row"))
    company: Mapped[str] = mapped_column(String(200), nullable=False, info=personal("row"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    status_changed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # naive UTC
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    changes: Mapped[list[StatusChange]] = relationship(
        back_populates="application", order_by="StatusChange.changed_at", passive_deletes=True
    )


class StatusChange(Base):
    """One status event from the platform, stored once per event_id, pushed or not (and why not)."""

    __tablename__ = "application_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # sha256 of the event's normalised fields: a repeat with a different body is refused
    body_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True, nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # naive UTC
    # not pushed: stale (older than the application's current status) or unchanged (same status again)
    stale: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    unchanged: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = created_at_column()

    application: Mapped[Application] = relationship(back_populates="changes")
    notification: Mapped[Notification | None] = relationship()
