"""The outbox, as domain code sees it: enqueue a message for a person in the caller's transaction.
The sender (wxbot.push.sender + jobs/sender.py) does the rest; wxbot.push.explain answers "why?".

Rules that hold for every notification:
- `dedupe_key` is unique: enqueueing the same key again returns the first row, so retries never double.
- `supersede_key`: a newer notification replaces older ones with the same key that are not yet sent.
- `reminder` and `urgent`: see wxbot.push.policy (reminder choice, quiet hours, daily cap).
- The channel is chosen when sending, in the order of `channels`: customer-service message while the reply
  window is open, template message where the person follows the official account, mini-program subscribe
  message where they have an unused authorisation; else skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock, metrics
from wxbot.errors import Invalid
from wxbot.models.identity import Account
from wxbot.models.outbox import CHANNELS, OPEN_STATUSES, Notification
from wxbot.push.policy import REMINDER_CLASSES, reminder_allowed

# channel -> the PushContent field (and the key of the stored JSON) it sends
# (a 订阅通知 says what a subscribe message says: the same key and data)
CONTENT_FOR_CHANNEL = {
    "custom": "text",
    "template": "template",
    "subscribe": "subscribe",
    "oa_subscribe": "subscribe",
}


@dataclass(frozen=True)
class TemplateContent:
    """An official-account template message: the [notify.templates] key, the data its fields, link and
    page pick from, and a link or mini-program page that replaces the configured one."""

    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    page: str | None = None

    def as_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"key": self.key, "data": dict(self.data)}
        if self.url is not None:
            stored["url"] = self.url
        if self.page is not None:
            stored["page"] = self.page
        return stored


@dataclass(frozen=True)
class SubscribeContent:
    """A mini-program subscribe message: the [notify.templates] key, the data its fields and page pick
    from, and a page that replaces the configured one."""

    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    page: str | None = None

    def as_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"key": self.key, "data": dict(self.data)}
        if self.page is not None:
            stored["page"] = self.page
        return stored


@dataclass(frozen=True)
class PushContent:
    """What a notification says on each channel it may take (a channel needs its part)."""

    text: str | None = None  # the customer-service message
    image: str | None = None  # or a customer-service image: the media_id of an image uploaded to WeChat
    template: TemplateContent | None = None
    subscribe: SubscribeContent | None = None

    def as_json(self) -> dict[str, Any]:
        """The form stored in Notification.content (and read by the sender)."""
        stored: dict[str, Any] = {}
        if self.text is not None:
            stored["text"] = self.text
        if self.image is not None:
            stored["image"] = self.image
        if self.template is not None:
            stored["template"] = self.template.as_json()
        if self.subscribe is not None:
            stored["subscribe"] = self.subscribe.as_json()
        return stored


class EnqueueError(Invalid):
    """A programming error in the caller: the notification cannot be sent as described."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_notification", message)


def enqueue(
    session: Session,
    *,
    purpose: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    content: PushContent,
    channels: Iterable[str] = ("custom", "template", "subscribe"),
    dedupe_key: str | None = None,
    urgent: bool = False,
    source_type: str | None = None,
    source_id: str | int | None = None,
    supersede_key: str | None = None,
    reminder: str | None = None,
) -> Notification:
    """Add a notification to the outbox in the caller's transaction (the caller commits)."""
    channel_list = list(channels)
    if account_id is None and identity_id is None:
        raise EnqueueError("an account or an identity is needed")
    if (
        not channel_list
        or any(c not in CHANNELS for c in channel_list)
        or len(set(channel_list)) != len(channel_list)
    ):
        raise EnqueueError(f"channels must be distinct values of {CHANNELS}")
    for channel in channel_list:
        if channel == "custom" and content.image:
            continue  # an image instead of the text
        if not getattr(content, CONTENT_FOR_CHANNEL[channel]):
            raise EnqueueError(f"channel {channel} needs content[{CONTENT_FOR_CHANNEL[channel]!r}]")
    if reminder is not None and reminder not in REMINDER_CLASSES:
        raise EnqueueError(f"reminder must be one of {REMINDER_CLASSES} or None")
    if dedupe_key is not None:
        existing = _by_dedupe_key(session, dedupe_key)
        if existing is not None:
            return existing
    now = clock.now()
    row = Notification(
        purpose=purpose,
        account_id=account_id,
        identity_id=identity_id,
        content=content.as_json(),
        channels=",".join(channel_list),
        dedupe_key=dedupe_key,
        supersede_key=supersede_key,
        reminder=reminder,
        urgent=urgent,
        source_type=source_type,
        source_id=None if source_id is None else str(source_id),
        lane=lane_of(identity_id, account_id),
        status="pending",
        next_attempt_at=now,
        attempts=0,
        ended_channels="",
    )
    if reminder is not None and account_id is not None:
        account = session.get(Account, account_id)
        choice = account.reminder_pref if account is not None else "all"
        if not reminder_allowed(reminder, choice):
            _finish(row, "skipped", "preference", f"reminder choice: {choice}")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # The same dedupe_key committed by a concurrent transaction: that one is the notification.
        if dedupe_key is None:
            raise
        existing = _by_dedupe_key(session, dedupe_key)
        if existing is None:
            raise
        return existing
    if supersede_key is not None:
        superseded = session.execute(
            update(Notification)
            .where(
                Notification.supersede_key == supersede_key,
                Notification.status.in_(OPEN_STATUSES),
                Notification.id != row.id,
            )
            .values(status="superseded", reason="superseded", next_attempt_at=None, detail=f"by #{row.id}")
            .execution_options(synchronize_session=False)
        )
        metrics.PUSHES_HELD.labels("superseded").inc(superseded.rowcount)  # type: ignore[attr-defined]
    return row


def lane_of(identity_id: int | None, account_id: int | None) -> str:
    """The recipient a notification's order is kept for: its identity, else its account."""
    return f"i{identity_id}" if identity_id is not None else f"a{account_id}"


def resend(session: Session, notification: Notification) -> bool:
    """A person decided that a notification of unknown delivery goes again: queued now as a new attempt.
    False when it is not (or no longer) of unknown delivery. The caller commits."""
    changed = session.execute(
        update(Notification)
        .where(Notification.id == notification.id, Notification.status == "unknown")
        .values(status="pending", next_attempt_at=clock.now(), unsure_since=None, reason=None, detail=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def skip(notification: Notification, reason: str, detail: str) -> None:
    """The notification cannot go at all (a reason of wxbot.push.explain.REASONS): final now."""
    _finish(notification, "skipped", reason, detail[:255])


def cancel(session: Session, notification: Notification, detail: str = "") -> bool:
    """Cancel a notification that is not yet sent; False when it is too late."""
    if notification.status not in OPEN_STATUSES:
        return False
    _finish(notification, "cancelled", "cancelled", detail or None)
    return True


def _by_dedupe_key(session: Session, key: str) -> Notification | None:
    return session.scalars(select(Notification).where(Notification.dedupe_key == key)).first()


def _finish(row: Notification, status: str, reason: str | None, detail: str | None = None) -> None:
    row.status, row.reason, row.detail, row.next_attempt_at = status, reason, detail, None
