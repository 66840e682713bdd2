"""The outbox: every message to a person goes through a Notification row, written in the transaction of the
change that caused it, and sent later by the sender job (jobs/sender.py). Also what the sender needs to
choose a channel: mini-program subscribe authorisations, per-API pauses, per-account daily counts; and
each app's health as its sends see it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import created_at_column, personal, updated_at_column

# pending: waiting for next_attempt_at; sending: claimed by a sender (its lease ends at next_attempt_at);
# held: quiet hours or the daily cap (next_attempt_at says until when); unknown: a send whose outcome WeChat
# never told us and that cannot safely be repeated (waits for a person to resend it); the others are final.
STATUSES = ("pending", "sending", "sent", "delivered", "failed", "skipped", "held", "superseded", "cancelled",
            "unknown")  # fmt: skip
OPEN_STATUSES = ("pending", "held")  # not yet handed to a sender
# A recipient's earlier rows in these states keep its later ones back (wxbot.push.sender.claim): one at a
# time, in the order queued; a held row only once it is due (an urgent one passes the quiet hours).
LANE_BLOCKING = ("pending", "sending")
# customer-service message, template message, mini-program subscribe message, the official account's 订阅通知
CHANNELS = ("custom", "template", "subscribe", "oa_subscribe")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_account_status", "account_id", "status"),
        Index("ix_notifications_source", "source_type", "source_id"),
        Index("ix_notifications_msgid", "sent_app", "msgid"),
        Index("ix_notifications_lane", "lane", "status"),
        Index("ix_notifications_created_at", "created_at"),  # the retention job's cutoff
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)  # application_status, ticket_reply, ...
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    # what each channel sends: {"text": ..., "template": {"key", "data", "page"/"url"}, "subscribe": {...}}
    content: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, info=personal("row"))
    channels: Mapped[str] = mapped_column(
        String(64), nullable=False
    )  # in order of preference, comma-separated
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # a newer notification with the same key replaces this one while it is unsent
    supersede_key: Mapped[str | None] = mapped_column(String(128), index=True)
    # which reminder choice lets it through: key (all and key), other (all only); None: not a reminder
    reminder: Mapped[str | None] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str | None] = mapped_column(String(64))
    # the recipient (identity, else account): its rows go out one at a time, in id order
    lane: Mapped[str | None] = mapped_column(String(24))
    # a customer-service message whose slot of the reply window was taken when it was queued (an agent's
    # reply): the sender does not take another
    window_reserved: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )

    status: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    # When a sender should look at it next: pending/held -> when due, sending -> end of the claim's lease;
    # NULL once final. This one index serves the claim query.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    claim_token: Mapped[str | None] = mapped_column(
        String(32), index=True
    )  # a sender renews its leases by it
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # sends tried
    reason: Mapped[str | None] = mapped_column(String(32))  # machine code, see wxbot.push.explain.REASONS
    detail: Mapped[str | None] = mapped_column(String(255))  # plain words; never personal data
    errcode: Mapped[int | None] = mapped_column(Integer)
    # channels that ended for this row, with why ("template:43004,custom:45015"); the next try skips them
    ended_channels: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    channel: Mapped[str | None] = mapped_column(String(16))  # of the send made (or being made)
    # When a send of this row began whose outcome is unknown (a timeout, or its sender died); None while every
    # send had a clear answer. Template and subscribe sends are repeated within WeChat's client_msg_id window
    # from then, customer-service sends never.
    unsure_since: Mapped[datetime | None] = mapped_column(DateTime)
    sent_app: Mapped[str | None] = mapped_column(String(32))
    sent_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    msgid: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    def channel_list(self) -> list[str]:
        return [c for c in self.channels.split(",") if c]

    def ended(self) -> dict[str, str]:
        return dict(part.split(":", 1) for part in self.ended_channels.split(",") if ":" in part)


class SubscribeGrant(Base):
    """One accepted subscribe authorisation: one send of one template to one identity (a mini program's
    subscribe message, or an official account's one-time 订阅通知), or every send until it is withdrawn (a
    long-term 订阅通知).

    The client reports it (POST /mp/<name>/subscriptions) and WeChat reports it (subscribe_msg_popup_event);
    the two reports of one tap are one grant, hence a column for each.
    """

    __tablename__ = "subscribe_grants"
    __table_args__ = (Index("ix_subscribe_grants_lookup", "identity_id", "template_id", "used_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), nullable=False)
    template_id: Mapped[str] = mapped_column(String(128), nullable=False)
    client_reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    event_reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)  # spent by a send (or refused by WeChat)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)  # the user turned the template off
    # long-term: never spent by a send (used_at stays empty), ends with revoked_at
    long_term: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class ApiPause(Base):
    """WeChat limited one API of one app (45009 daily quota, 45011 minute limit): no sends through that API
    of that app until `until`. In the database, so every sender process on every host sees it."""

    __tablename__ = "api_pauses"

    app_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    api: Mapped[str] = mapped_column(String(64), primary_key=True)  # WeChat's path, /cgi-bin/message/...
    until: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    errcode: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = updated_at_column()


class AppHealth(Base):
    """Sends of one app that failed with a token error after the refresh-and-retry, in a row; unhealthy
    once there were `[wechat] unhealthy_after_token_failures` of them (wxbot.push.app_health)."""

    __tablename__ = "app_health"

    app_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    errcode: Mapped[int | None] = mapped_column(Integer)  # the last token error
    unhealthy_since: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = updated_at_column()


class DailyCount(Base):
    """Non-urgent pushes released to an account on one local day (the daily cap); locked while counting."""

    __tablename__ = "notify_daily_counts"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
