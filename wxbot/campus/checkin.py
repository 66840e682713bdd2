"""Check-in at the door: each confirmed seat's code (random, saying nothing of the person), checked once
while the door is open, and replaced on request."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus.views import get_event
from wxbot.errors import NotFound
from wxbot.models.campus import EventSignup
from wxbot.privacy import audit

CheckinResult = Literal["ok", "already_checked_in", "unknown", "cancelled", "wrong_event", "not_open"]


def new_checkin_code() -> str:
    """128 random bits, URL-safe: nothing in it says who the person is."""
    return secrets.token_urlsafe(16)


def check_in(session: Session, *, event_id: str, code: str, opens_before: timedelta) -> CheckinResult:
    """Check a code at the door: good once, from `opens_before` the start until the end."""
    if not isinstance(code, str) or not 1 <= len(code) <= 64:
        return "unknown"
    row = session.scalars(
        select(EventSignup).where(EventSignup.checkin_code == code).with_for_update()
    ).first()
    if row is None:
        return "unknown"
    event = row.event
    if event.external_id != event_id:
        return "wrong_event"
    if event.status == "cancelled" or row.status == "cancelled":
        return "cancelled"
    now = clock.now()
    if not event.starts_at - opens_before <= now <= event.ends_at:
        return "not_open"
    if row.checked_in_at is not None:
        return "already_checked_in"
    row.checked_in_at = now
    audit.log(
        session, actor="platform", action="event.checkin", subject_type="event_signup", subject_id=row.id
    )
    session.flush()
    return "ok"


def revoke_checkin_code(session: Session, *, event_id: str, account_id: int) -> EventSignup:
    """Replace a confirmed sign-up's check-in code; the old one answers `unknown` from now on."""
    event = get_event(session, event_id)
    row = session.scalars(
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.account_id == account_id)
        .with_for_update()
    ).first()
    if row is None or row.status != "confirmed":
        raise NotFound("no_seat", "您没有该活动的确认名额")
    row.checkin_code = new_checkin_code()
    audit.log(
        session, actor=f"user:acc:{account_id}", action="event.revoke_code", subject_type="event_signup",
        subject_id=row.id,
    )  # fmt: skip
    session.flush()
    return row
