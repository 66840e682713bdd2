"""Reading events and sign-ups, and what the APIs show of them, with times in the event's own offset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.errors import NotFound
from wxbot.models.campus import Event, EventSignup

KIND_NAMES = {"talk": "宣讲会", "online_talk": "空中宣讲", "job_fair": "双选会"}


def event_zone(event: Event) -> tzinfo:
    """The event's own offset: people at the event read its times there."""
    return timezone(timedelta(minutes=event.utc_offset_minutes))


def event_iso(event: Event, moment: datetime) -> str:
    """A moment in ISO 8601 at the event's offset (not clock.local_iso: the answers keep their microseconds)."""
    return clock.to_local(moment, event_zone(event)).isoformat()


def get_event(session: Session, external_id: str) -> Event:
    event = session.scalars(select(Event).where(Event.external_id == external_id)).first()
    if event is None:
        raise NotFound("event_not_found", "没有这个活动")
    return event


def upcoming_events(
    session: Session,
    *,
    kind: str | None = None,
    school: str | None = None,
    city: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Event]:
    """Scheduled events that have not started yet, soonest first."""
    query = select(Event).where(Event.status == "scheduled", Event.starts_at > clock.now())
    if kind:
        query = query.where(Event.kind == kind)
    if school:
        query = query.where(Event.school == school)
    if city:
        query = query.where(Event.city == city)
    query = query.order_by(Event.starts_at, Event.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def confirmed_counts(session: Session, event_ids: list[int]) -> dict[int, int]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(EventSignup.event_id, func.count())
        .where(EventSignup.event_id.in_(event_ids), EventSignup.status == "confirmed")
        .group_by(EventSignup.event_id)
    )
    return {event_id: count for event_id, count in rows}


def event_view(event: Event, confirmed: int) -> dict[str, Any]:
    """What a student sees of an event."""
    now = clock.now()
    seats_left = None if event.capacity is None else max(event.capacity - confirmed, 0)
    return {
        "event_id": event.external_id,
        "kind": event.kind,
        "title": event.title,
        "organiser": event.organiser,
        "school": event.school,
        "city": event.city,
        "starts_at": event_iso(event, event.starts_at),
        "ends_at": event_iso(event, event.ends_at),
        "venue": event.venue,
        "live_url": event.live_url,
        "capacity": event.capacity,
        "seats_left": seats_left,
        "signup_deadline": event_iso(event, event.signup_deadline),
        "cancel_deadline": event_iso(event, event.cancel_deadline),
        "signup_open": event.status == "scheduled" and now <= event.signup_deadline,
        "fields": event.fields,
        "status": event.status,
    }


def event_counts(session: Session, event_id: int) -> dict[str, int]:
    """The statistics that outlive the personal data: signed up (seats), waitlisted, cancelled, attended."""
    rows = dict(
        session.execute(
            select(EventSignup.status, func.count())
            .where(EventSignup.event_id == event_id)
            .group_by(EventSignup.status)
        ).all()
    )
    attended = session.scalar(
        select(func.count()).where(EventSignup.event_id == event_id, EventSignup.checked_in_at.is_not(None))
    )
    return {
        "confirmed": rows.get("confirmed", 0),
        "waitlisted": rows.get("waitlisted", 0),
        "cancelled": rows.get("cancelled", 0),
        "attended": attended or 0,
    }


def signup_view(signup: EventSignup) -> dict[str, Any]:
    """A sign-up as its owner sees it: the check-in code only while it holds a seat."""
    event = signup.event
    return {
        "event_id": event.external_id,
        "title": event.title,
        "starts_at": event_iso(event, event.starts_at),
        "status": signup.status,
        "queue_number": signup.queue_number,
        "signed_up_at": event_iso(event, signup.signed_up_at),
        "checkin_code": signup.checkin_code if signup.status == "confirmed" else None,
        "checked_in": signup.checked_in_at is not None,
    }


def waitlist_rank(session: Session, signup: EventSignup) -> int | None:
    """1 for the first in line; None when not waitlisted."""
    if signup.status != "waitlisted":
        return None
    ahead = session.scalar(
        select(func.count()).where(
            EventSignup.event_id == signup.event_id,
            EventSignup.status == "waitlisted",
            EventSignup.queue_number < signup.queue_number,
        )
    )
    return (ahead or 0) + 1


def find_signup(session: Session, event_pk: int, account_id: int) -> EventSignup | None:
    """The account's sign-up row at an event (any status), by the event's own primary key."""
    return session.scalars(
        select(EventSignup).where(EventSignup.event_id == event_pk, EventSignup.account_id == account_id)
    ).first()


def signups_of(session: Session, account_id: int) -> list[EventSignup]:
    query = (
        select(EventSignup)
        .join(Event, Event.id == EventSignup.event_id)
        .where(EventSignup.account_id == account_id)
        .order_by(Event.starts_at.desc(), EventSignup.id)
    )
    return list(session.scalars(query))
