"""The platform's events stored: created, updated, moved or cancelled, with word to everyone signed up when
the time or the place changes or the event is off."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot.campus.reminders import tell
from wxbot.campus.signups import count_signups, lock_event, promote
from wxbot.campus.spec import EventSpec
from wxbot.errors import Conflict
from wxbot.models.campus import Event, EventSignup
from wxbot.privacy import audit


@dataclass
class UpsertResult:
    event: Event
    created: bool
    moved: bool = False
    cancelled: bool = False
    promoted: int = 0
    notified: int = 0


def upsert_event(session: Session, spec: EventSpec) -> UpsertResult:
    """Create or update an event. Moving it (time or place) or cancelling it tells everyone signed up.

    A cancelled event stays cancelled; capacity cannot drop below the seats already confirmed (nobody loses
    a confirmed seat); more capacity promotes from the waiting list.
    """
    event = lock_event(session, spec.external_id)
    if event is None:
        event = Event(external_id=spec.external_id, last_queue_number=0)
        _apply(event, spec)
        try:
            # Two first deliveries of the same event race on the unique external id; the loser's savepoint
            # is rolled back and it retries as an update, which waits for the winner's lock.
            with session.begin_nested():
                session.add(event)
        except IntegrityError:
            return upsert_event(session, spec)
        audit.log(session, actor="platform", action="event.create", subject_type="event", subject_id=event.id)
        return UpsertResult(event=event, created=True)

    if event.status == "cancelled":
        if spec.status == "cancelled":
            return UpsertResult(event=event, created=False)
        raise Conflict("event_cancelled", "a cancelled event cannot be rescheduled; send it as a new event")
    confirmed = count_signups(session, event.id, "confirmed")
    if spec.capacity is not None and spec.capacity < confirmed:
        raise Conflict(
            "capacity_below_confirmed",
            f"capacity: {spec.capacity} is below the {confirmed} confirmed sign-ups",
            field="capacity",
        )
    moved = (event.starts_at, event.venue, event.live_url) != (spec.starts_at, spec.venue, spec.live_url)
    cancelled = spec.status == "cancelled"
    _apply(event, spec)
    result = UpsertResult(event=event, created=False, moved=moved and not cancelled, cancelled=cancelled)
    if cancelled or moved:
        purpose = "event_cancelled" if cancelled else "event_moved"
        for signup in _active_signups(session, event.id):
            if moved:
                signup.reminded_at = None  # a reminder for the new time, once
            tell(session, signup, purpose, urgent=True, dedupe=_change_stamp(event))
            result.notified += 1
    if not cancelled:
        result.promoted = len(promote(session, event))
    audit.log(
        session,
        actor="platform",
        action="event.cancel" if cancelled else ("event.move" if moved else "event.update"),
        subject_type="event",
        subject_id=event.id,
    )
    session.flush()
    return result


def _apply(event: Event, spec: EventSpec) -> None:
    event.kind = spec.kind
    event.title = spec.title
    event.organiser = spec.organiser
    event.school = spec.school
    event.city = spec.city
    event.starts_at = spec.starts_at
    event.ends_at = spec.ends_at
    event.venue = spec.venue
    event.live_url = spec.live_url
    event.capacity = spec.capacity
    event.signup_deadline = spec.signup_deadline
    event.cancel_deadline = spec.cancel_deadline
    event.required_fields = ",".join(spec.fields)
    event.status = spec.status
    event.utc_offset_minutes = spec.utc_offset_minutes


def _change_stamp(event: Event) -> str:
    """Part of the dedupe key of a change message: a new time or place is a new message, a retry is not."""
    if event.status == "cancelled":
        return "cancelled"
    place = hashlib.sha256((event.venue or event.live_url or "").encode()).hexdigest()[:12]
    return f"moved:{event.starts_at:%Y%m%d%H%M}:{place}"


def _active_signups(session: Session, event_id: int) -> list[EventSignup]:
    return list(
        session.scalars(
            select(EventSignup)
            .where(EventSignup.event_id == event_id, EventSignup.status.in_(("confirmed", "waitlisted")))
            .order_by(EventSignup.queue_number)
        )
    )
