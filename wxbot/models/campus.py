"""Campus events (宣讲会, 空中宣讲, 双选会) and their sign-ups.

What a student gives for an event serves that event only: the sign-up's personal columns are erased a set
time after the event ends, while the row itself (status, queue number, check-in time) stays for the counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal, updated_at_column

EVENT_KINDS = ("talk", "online_talk", "job_fair")  # 宣讲会, 空中宣讲, 双选会
EVENT_STATUSES = ("scheduled", "cancelled")


class Event(Base):
    """An event as the platform describes it; `external_id` is the platform's id, used in every API."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_starts_at", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    organiser: Mapped[str] = mapped_column(String(200), nullable=False)
    school: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    city: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    venue: Mapped[str | None] = mapped_column(String(200))
    live_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    signup_deadline: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    cancel_deadline: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    required_fields: Mapped[str] = mapped_column(String(128), default="", nullable=False)  # comma-separated
    status: Mapped[str] = mapped_column(String(16), default="scheduled", nullable=False)
    # The UTC offset the platform gave the times in: messages and the API show the event's local time.
    utc_offset_minutes: Mapped[int] = mapped_column(Integer, default=480, nullable=False)
    # Arrival order of sign-ups, advanced under the event's row lock: the waiting list's order.
    last_queue_number: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The platform's own counter for the event: an update not above it is stale. None: none given yet
    # (created before versions, or by `wxbot events import`).
    version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    @property
    def fields(self) -> list[str]:
        return [f for f in self.required_fields.split(",") if f]


class EventSignup(Base):
    """One account's place at one event: confirmed (holds a seat), waitlisted, or cancelled.

    Cancelling and signing up again reuses the row (one per event and account: the unique constraint is the
    last guard against doubles); the new sign-up joins the end of the queue.
    """

    __tablename__ = "event_signups"
    __table_args__ = (
        UniqueConstraint("event_id", "account_id"),
        UniqueConstraint("event_id", "queue_number"),
        Index("ix_event_signups_event_status_queue", "event_id", "status", "queue_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    # Who signed up; set to NULL with the personal fields when the sign-up is anonymised.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # confirmed | waitlisted | cancelled
    queue_number: Mapped[int] = mapped_column(Integer, nullable=False)
    signed_up_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Random, revocable; shown as a QR code. Kept after a cancellation so a scan answers "cancelled".
    checkin_code: Mapped[str | None] = mapped_column(String(32), unique=True, info=personal("null"))
    # The event's required fields, as given for this event only.
    name: Mapped[str | None] = mapped_column(String(50), info=personal("null"))
    school: Mapped[str | None] = mapped_column(String(100), info=personal("null"))
    major: Mapped[str | None] = mapped_column(String(100), info=personal("null"))
    graduation_year: Mapped[int | None] = mapped_column(Integer, info=personal("null"))
    birth_year: Mapped[int | None] = mapped_column(Integer, info=personal("null"))
    phone_enc: Mapped[str | None] = mapped_column(Text, info=personal("null", encrypted=True))
    phone_masked: Mapped[str | None] = mapped_column(String(16), info=personal("null"))
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    event: Mapped[Event] = relationship()
