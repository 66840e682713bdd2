"""Signing up and cancelling: a seat while there is one, else the waiting list, whose head takes every seat
that frees up.

Capacity holds whatever the concurrency because every change to an event's seats (sign-up, cancellation,
capacity change, erasure of an account) first locks the event's row (`lock_event`): `SELECT ... FOR UPDATE`
on MariaDB/MySQL, and the `BEGIN IMMEDIATE` every SQLite transaction starts with. Under that lock the
confirmed sign-ups are counted and the event's queue counter is advanced, so seats and waiting-list order
follow the order in which transactions took the lock. The unique (event, account) constraint is the last
guard against a double sign-up.

Functions take a session and plain values, flush, and leave the commit to the caller (one transaction per
request or job run), so a notification is enqueued in the same transaction as the change that caused it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus.checkin import new_checkin_code
from wxbot.campus.fields import FieldErrors, check_age, clean_text, clean_year, invalid_fields
from wxbot.campus.reminders import tell
from wxbot.campus.views import event_iso, event_zone, find_signup, signup_view
from wxbot.errors import Conflict, NotFound
from wxbot.models.campus import Event, EventSignup
from wxbot.privacy import audit, consent
from wxbot.privacy.pii import PiiKeys, mask_phone, normalise_phone


class AlreadySignedUp(Conflict):
    """The account already holds a seat or a waiting-list place; `signup` (and the details) show which."""

    def __init__(self, signup: EventSignup) -> None:
        super().__init__("already_signed_up", "您已报名该活动", signup=signup_view(signup))
        self.signup = signup


def validate_answers(event: Event, answers: Any) -> dict[str, Any]:
    """The event's required fields from a sign-up form, cleaned; an Invalid names every wrong field.

    Fields the event does not ask for are ignored and never stored. Under-16s are refused (Refused) when the
    fields reveal it (wxbot.privacy.age.check_age): a birth year, or a graduation year too far away.
    """
    if not isinstance(answers, dict):
        raise invalid_fields({"body": "must be a JSON object"})
    year = clock.now().year
    errors = FieldErrors()
    clean: dict[str, Any] = {}
    required = event.fields
    if "name" in required:
        clean["name"] = clean_text(answers.get("name"), "name", 50, errors, required=True)
    if "school" in required:
        clean["school"] = clean_text(answers.get("school"), "school", 100, errors, required=True)
    if "major" in required:
        clean["major"] = clean_text(answers.get("major"), "major", 100, errors, required=True)
    if "graduation_year" in required:
        clean["graduation_year"] = clean_year(
            answers.get("graduation_year"), "graduation_year", year - 80, year + 10, errors
        )
    if "birth_year" in required:
        clean["birth_year"] = clean_year(answers.get("birth_year"), "birth_year", year - 120, year, errors)
    if "phone" in required:
        raw_phone = answers.get("phone")
        if not isinstance(raw_phone, str) or len(raw_phone) > 20:
            errors.add("phone", "required: a mainland mobile number")
        else:
            try:
                clean["phone"] = normalise_phone(raw_phone)
            except ValueError:
                errors.add("phone", "not a mainland mobile number")
    errors.raise_if_any()
    check_age(clean)
    return clean


def signup(
    session: Session,
    pii: PiiKeys,
    *,
    event_id: str,
    account_id: int,
    identity_id: int | None,
    answers: Any,
    consent_event_data: Any,
    share_with_organiser: Any = False,
    channel: str = "miniprogram",
) -> EventSignup:
    """Sign an account up: a seat while there is one, else the end of the waiting list.

    Refusals: NotFound, Conflict (cancelled, closed, AlreadySignedUp), Invalid, Refused (under 16).
    Nothing is written on a refusal (the caller's transaction is rolled back).

    Everything that does not decide the seat (checks, validation, consents) happens before the event's row
    is locked, so the lock is held for as few statements as possible: the lock, the queue number, the
    count of seats, the sign-up itself.
    """
    event = session.scalars(select(Event).where(Event.external_id == event_id)).first()
    if event is None:
        raise NotFound("event_not_found", "没有这个活动")
    _check_open(event)
    existing = find_signup(session, event.id, account_id)
    if existing is not None and existing.status != "cancelled":
        raise AlreadySignedUp(existing)
    clean = validate_answers(event, answers)
    if consent_event_data is not True:
        raise invalid_fields({"consent_event_data": "must be true: the sign-up needs your consent"})
    if not isinstance(share_with_organiser, bool):
        raise invalid_fields({"share_with_organiser": "must be true or false"})
    scope = scope_of(event)
    consent.record(session, kind="event_data", channel=channel, account_id=account_id, scope=scope)
    if share_with_organiser:
        consent.record(session, kind="organiser_sharing", channel=channel, account_id=account_id, scope=scope)
    else:
        consent.withdraw(session, kind="organiser_sharing", account_id=account_id, scope=scope)

    event = lock_event(session, event_id)
    assert event is not None  # events are never deleted
    _check_open(event)  # it may have been cancelled meanwhile
    if existing is not None:
        session.refresh(existing)  # another of this account's requests may have taken the row meanwhile
        if existing.status != "cancelled":
            raise AlreadySignedUp(existing)
    now = clock.now()
    event.last_queue_number += 1
    row = existing or EventSignup(event_id=event.id, account_id=account_id)
    row.event = event
    row.identity_id = identity_id
    row.queue_number = event.last_queue_number
    row.signed_up_at = now
    row.cancelled_at = None
    row.checked_in_at = None
    row.reminded_at = None
    row.anonymised_at = None
    _store_answers(row, clean, pii)
    if event.capacity is None or count_signups(session, event.id, "confirmed") < event.capacity:
        _confirm(row, now)
    else:
        row.status = "waitlisted"
        row.confirmed_at = None
    if existing is None:
        session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # The unique (event, account) guard: another request of this account inserted first.
        session.rollback()
        raced = session.scalars(
            select(EventSignup).where(
                EventSignup.account_id == account_id, EventSignup.event.has(external_id=event_id)
            )
        ).first()
        if raced is None:
            raise
        raise AlreadySignedUp(raced) from None
    audit.log(
        session,
        actor=f"user:acc:{account_id}",
        action="event.signup",
        subject_type="event_signup",
        subject_id=row.id,
        detail=row.status,
    )
    return row


def _check_open(event: Event) -> None:
    if event.status == "cancelled":
        raise Conflict("event_cancelled", "该活动已取消")
    if clock.now() > event.signup_deadline:
        raise Conflict(
            "signup_closed",
            f"报名已于 {clock.local_text(event.signup_deadline, event_zone(event))} 截止",
            deadline=event_iso(event, event.signup_deadline),
        )


def _store_answers(row: EventSignup, clean: dict[str, Any], pii: PiiKeys) -> None:
    row.name = clean.get("name")
    row.school = clean.get("school")
    row.major = clean.get("major")
    row.graduation_year = clean.get("graduation_year")
    row.birth_year = clean.get("birth_year")
    phone = clean.get("phone")
    row.phone_enc = pii.encrypt(phone) if phone else None
    row.phone_masked = mask_phone(phone) if phone else None


def _confirm(row: EventSignup, now: datetime) -> None:
    row.status = "confirmed"
    row.confirmed_at = now
    row.checkin_code = new_checkin_code()


def cancel_signup(session: Session, *, event_id: str, account_id: int) -> EventSignup:
    """Cancel one's own sign-up: a seat until the cancel deadline, a waiting-list place until the start.

    The fields given for the event are erased at once (their purpose is gone); a freed seat goes to the first
    in line, who is told.
    """
    event = lock_event(session, event_id)
    if event is None:
        raise NotFound("event_not_found", "没有这个活动")
    row = find_signup(session, event.id, account_id)
    if row is None or row.status == "cancelled":
        raise NotFound("not_signed_up", "您没有报名该活动")
    now = clock.now()
    if now >= event.starts_at:
        raise Conflict("event_started", "活动已开始，不能取消报名")
    if row.status == "confirmed" and now > event.cancel_deadline:
        raise Conflict(
            "cancel_closed",
            f"取消报名已于 {clock.local_text(event.cancel_deadline, event_zone(event))} 截止",
            deadline=event_iso(event, event.cancel_deadline),
        )
    cancel(session, event, row, now)
    audit.log(
        session, actor=f"user:acc:{account_id}", action="event.cancel_signup", subject_type="event_signup",
        subject_id=row.id,
    )  # fmt: skip
    return row


def cancel(session: Session, event: Event, row: EventSignup, now: datetime) -> None:
    """Cancel a sign-up, the caller holding the event's lock: its fields erased, its consents withdrawn, a
    freed seat given to the next in line."""
    held_seat = row.status == "confirmed"
    row.status = "cancelled"
    row.cancelled_at = now
    erase_answers(row)
    scope = scope_of(event)
    if row.account_id is not None:
        for kind in ("event_data", "organiser_sharing"):
            consent.withdraw(session, kind=kind, account_id=row.account_id, scope=scope)
    session.flush()
    if held_seat:
        promote(session, event)


def promote(session: Session, event: Event) -> list[EventSignup]:
    """Fill free seats from the head of the waiting list, telling each person promoted. Caller holds the lock."""
    now = clock.now()
    if event.status != "scheduled" or now >= event.starts_at:
        return []
    free = None if event.capacity is None else event.capacity - count_signups(session, event.id, "confirmed")
    if free is not None and free <= 0:
        return []
    query = (
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.status == "waitlisted")
        .order_by(EventSignup.queue_number)
    )
    if free is not None:
        query = query.limit(free)
    promoted = list(session.scalars(query))
    for row in promoted:
        _confirm(row, now)
        tell(session, row, "event_promoted", urgent=False, dedupe=f"promoted:{row.queue_number}")
    session.flush()
    return promoted


def erase_answers(row: EventSignup) -> None:
    """Erase the fields given for the event."""
    row.name = row.school = row.major = row.phone_enc = row.phone_masked = None
    row.graduation_year = row.birth_year = None


def lock_event(session: Session, external_id: str) -> Event | None:
    """The event row, locked until the transaction ends (SQLite: BEGIN IMMEDIATE already serialises)."""
    return session.scalars(
        select(Event)
        .where(Event.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def count_signups(session: Session, event_id: int, status: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(EventSignup.event_id == event_id, EventSignup.status == status)
        )
        or 0
    )


def scope_of(event: Event) -> str:
    """The consent scope of the data given for this event."""
    return f"event:{event.id}"
