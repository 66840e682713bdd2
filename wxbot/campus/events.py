"""Campus events (宣讲会 talk, 空中宣讲 online_talk, 双选会 job_fair): the platform's events, sign-ups with a
waiting list, check-in codes, reminders, and the purpose-bound data of each sign-up.

Capacity holds whatever the concurrency because every change to an event's seats (sign-up, cancellation,
capacity change, erasure of an account) first locks the event's row: `SELECT ... FOR UPDATE` on
MariaDB/MySQL, and the `BEGIN IMMEDIATE` every SQLite transaction starts with. Under that lock the
confirmed sign-ups are counted and the event's queue counter is advanced, so seats and waiting-list order
follow the order in which transactions took the lock. The unique (event, account) constraint is the last
guard against a double sign-up.

Functions take a session and plain values, flush, and leave the commit to the caller (one transaction per
request or job run), so a notification is enqueued in the same transaction as the change that caused it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.campus import EVENT_KINDS, EVENT_STATUSES, Event, EventSignup
from wxbot.models.ledger import Consent
from wxbot.privacy import audit, consent, retention
from wxbot.privacy import registry as rights
from wxbot.privacy import rights as privacy
from wxbot.privacy.pii import PiiKeys, mask_phone, normalise_phone
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue

SIGNUP_FIELDS = ("name", "school", "major", "graduation_year", "birth_year", "phone")
CheckinResult = Literal["ok", "already_checked_in", "unknown", "cancelled", "wrong_event", "not_open"]
MAX_CAPACITY = 100_000
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

_push_texts = Environment(
    loader=PackageLoader("wxbot", "templates/push"),
    undefined=StrictUndefined,
    autoescape=False,  # noqa: S701  plain-text WeChat messages, never HTML
    keep_trailing_newline=False,
)


# ---------------------------------------------------------------- refusals


class EventsError(Exception):
    """A refusal with a stable code and a message for people; `status` is the HTTP status the APIs answer."""

    status = 400

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


class InvalidInput(EventsError):
    """One or more fields are wrong; `fields` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        first, message = next(iter(errors.items()))
        super().__init__("invalid_field", f"{first}: {message}", field=first, fields=dict(errors))


class NotFound(EventsError):
    status = 404


class Conflict(EventsError):
    status = 409


class AlreadySignedUp(Conflict):
    def __init__(self, signup: EventSignup) -> None:
        super().__init__("already_signed_up", "您已报名该活动", signup=signup_view(signup))
        self.signup = signup


class Refused(EventsError):
    status = 403


class Gone(EventsError):
    status = 410


# ---------------------------------------------------------------- events from the platform


@dataclass(frozen=True)
class EventSpec:
    """A validated event as the platform sends it; datetimes are naive UTC."""

    external_id: str
    kind: str
    title: str
    organiser: str
    school: str
    city: str
    starts_at: datetime
    ends_at: datetime
    venue: str | None
    live_url: str | None
    capacity: int | None
    signup_deadline: datetime
    cancel_deadline: datetime
    fields: tuple[str, ...]
    status: str
    utc_offset_minutes: int


class _Errors:
    """Collects field errors so that one answer names every wrong field."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def _clean_text(value: Any, name: str, max_len: int, errors: _Errors, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            errors.add(name, "required")
        return ""
    if not isinstance(value, str):
        errors.add(name, "must be a string")
        return ""
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        errors.add(name, "contains control or unassigned characters")
        return ""
    if not text:
        if required:
            errors.add(name, "required")
        return ""
    if len(text) > max_len:
        errors.add(name, f"at most {max_len} characters")
        return ""
    return text


def _parse_datetime(value: Any, name: str, errors: _Errors) -> tuple[datetime, int] | None:
    """ISO 8601 with a UTC offset -> (naive UTC, offset in minutes)."""
    if not isinstance(value, str) or len(value) > 40:
        errors.add(name, "required: ISO 8601 date and time with a UTC offset, e.g. 2026-03-01T14:00:00+08:00")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.add(name, "not an ISO 8601 date and time")
        return None
    offset = parsed.utcoffset()
    if offset is None:
        errors.add(name, "needs a UTC offset, e.g. +08:00")
        return None
    if not 2000 <= parsed.year <= 2100:
        errors.add(name, "year out of range")
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None), int(offset.total_seconds() // 60)


def parse_event(payload: Any) -> EventSpec:
    """Validate the platform's event JSON; InvalidInput names every wrong field."""
    if not isinstance(payload, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    errors = _Errors()
    external_id = payload.get("event_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id):
        errors.add("event_id", "required: 1-64 letters, digits, _ . : - (starting with a letter or digit)")
    kind = payload.get("kind")
    if kind not in EVENT_KINDS:
        errors.add("kind", f"one of {', '.join(EVENT_KINDS)}")
    title = _clean_text(payload.get("title"), "title", 200, errors, required=True)
    organiser = _clean_text(payload.get("organiser"), "organiser", 200, errors, required=True)
    school = _clean_text(payload.get("school"), "school", 100, errors, required=False)
    city = _clean_text(payload.get("city"), "city", 64, errors, required=False)
    starts = _parse_datetime(payload.get("starts_at"), "starts_at", errors)
    ends = _parse_datetime(payload.get("ends_at"), "ends_at", errors)
    starts_at = starts[0] if starts else None
    ends_at = ends[0] if ends else None
    if starts_at and ends_at:
        if ends_at <= starts_at:
            errors.add("ends_at", "must be after starts_at")
        elif ends_at - starts_at > timedelta(days=31):
            errors.add("ends_at", "an event lasts at most 31 days")
    venue = _clean_text(payload.get("venue"), "venue", 200, errors, required=kind in ("talk", "job_fair"))
    live_url = _clean_text(payload.get("live_url"), "live_url", 500, errors, required=kind == "online_talk")
    if live_url and not live_url.startswith("https://"):
        errors.add("live_url", "must be an https URL")
    capacity = payload.get("capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY
    ):
        errors.add("capacity", f"null (unlimited) or a whole number from 1 to {MAX_CAPACITY}")
        capacity = None
    deadlines: dict[str, datetime | None] = {}
    for name in ("signup_deadline", "cancel_deadline"):
        raw = payload.get(name)
        parsed = _parse_datetime(raw, name, errors) if raw is not None else None
        deadlines[name] = parsed[0] if parsed else starts_at
        if parsed and ends_at and parsed[0] > ends_at:
            errors.add(name, "must not be after ends_at")
    fields = payload.get("fields", [])
    if (
        not isinstance(fields, list)
        or any(f not in SIGNUP_FIELDS for f in fields)
        or len(set(fields)) != len(fields)
    ):
        errors.add("fields", f"a list of distinct names among {', '.join(SIGNUP_FIELDS)}")
        fields = []
    status = payload.get("status", "scheduled")
    if status not in EVENT_STATUSES:
        errors.add("status", f"one of {', '.join(EVENT_STATUSES)}")
    errors.raise_if_any()
    assert starts and ends_at and deadlines["signup_deadline"] and deadlines["cancel_deadline"]
    return EventSpec(
        external_id=str(external_id),
        kind=str(kind),
        title=title,
        organiser=organiser,
        school=school,
        city=city,
        starts_at=starts[0],
        ends_at=ends_at,
        venue=venue or None,
        live_url=live_url or None,
        capacity=capacity,
        signup_deadline=deadlines["signup_deadline"],
        cancel_deadline=deadlines["cancel_deadline"],
        fields=tuple(f for f in SIGNUP_FIELDS if f in fields),
        status=status,
        utc_offset_minutes=starts[1],
    )


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
    event = _lock_event(session, spec.external_id)
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
    confirmed = _count(session, event.id, "confirmed")
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
            _tell(session, signup, purpose, urgent=True, dedupe=_change_stamp(event))
            result.notified += 1
    if not cancelled:
        result.promoted = len(_promote(session, event))
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


# ---------------------------------------------------------------- reading


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
        "starts_at": _local_iso(event, event.starts_at),
        "ends_at": _local_iso(event, event.ends_at),
        "venue": event.venue,
        "live_url": event.live_url,
        "capacity": event.capacity,
        "seats_left": seats_left,
        "signup_deadline": _local_iso(event, event.signup_deadline),
        "cancel_deadline": _local_iso(event, event.cancel_deadline),
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
        "starts_at": _local_iso(event, event.starts_at),
        "status": signup.status,
        "queue_number": signup.queue_number,
        "signed_up_at": _local_iso(event, signup.signed_up_at),
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


# ---------------------------------------------------------------- signing up


def validate_answers(event: Event, answers: Any) -> dict[str, Any]:
    """The event's required fields from a sign-up form, cleaned; InvalidInput names every wrong field.

    Fields the event does not ask for are ignored and never stored. Under-16s are refused (Refused) when the
    fields reveal it (wxbot.privacy.rights.check_age): a birth year, or a graduation year too far away.
    """
    if not isinstance(answers, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    year = clock.now().year
    errors = _Errors()
    clean: dict[str, Any] = {}
    required = event.fields
    if "name" in required:
        clean["name"] = _clean_text(answers.get("name"), "name", 50, errors, required=True)
    if "school" in required:
        clean["school"] = _clean_text(answers.get("school"), "school", 100, errors, required=True)
    if "major" in required:
        clean["major"] = _clean_text(answers.get("major"), "major", 100, errors, required=True)
    if "graduation_year" in required:
        clean["graduation_year"] = _year(
            answers.get("graduation_year"), "graduation_year", year - 80, year + 10, errors
        )
    if "birth_year" in required:
        clean["birth_year"] = _year(answers.get("birth_year"), "birth_year", year - 120, year, errors)
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
    _check_age(clean)
    return clean


def _year(value: Any, name: str, low: int, high: int, errors: _Errors) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "required: a year such as 2026")
        return None
    if not low <= value <= high:
        errors.add(name, f"a year from {low} to {high}")
        return None
    return value


def _check_age(clean: dict[str, Any]) -> None:
    """Refuse when the fields show the person is under 16 (privacy policy §九), naming the field."""
    for name in ("birth_year", "graduation_year"):
        value = clean.get(name)
        if value is None:
            continue
        try:
            privacy.check_age(**{name: value})
        except privacy.UnderAgeError as exc:
            raise Refused(exc.code, exc.message, field=name) from None
        except privacy.PrivacyError as exc:
            raise InvalidInput({name: exc.message}) from None


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

    Refusals: NotFound, Conflict (cancelled, closed, AlreadySignedUp), InvalidInput, Refused (under 16).
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
        raise InvalidInput({"consent_event_data": "must be true: the sign-up needs your consent"})
    if not isinstance(share_with_organiser, bool):
        raise InvalidInput({"share_with_organiser": "must be true or false"})
    scope = _scope(event)
    consent.record(session, kind="event_data", channel=channel, account_id=account_id, scope=scope)
    if share_with_organiser:
        consent.record(session, kind="organiser_sharing", channel=channel, account_id=account_id, scope=scope)
    else:
        consent.withdraw(session, kind="organiser_sharing", account_id=account_id, scope=scope)

    event = _lock_event(session, event_id)
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
    if event.capacity is None or _count(session, event.id, "confirmed") < event.capacity:
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
            f"报名已于 {local_text(event, event.signup_deadline)} 截止",
            deadline=_local_iso(event, event.signup_deadline),
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


def new_checkin_code() -> str:
    """128 random bits, URL-safe: nothing in it says who the person is."""
    return secrets.token_urlsafe(16)


def cancel_signup(session: Session, *, event_id: str, account_id: int) -> EventSignup:
    """Cancel one's own sign-up: a seat until the cancel deadline, a waiting-list place until the start.

    The fields given for the event are erased at once (their purpose is gone); a freed seat goes to the first
    in line, who is told.
    """
    event = _lock_event(session, event_id)
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
            f"取消报名已于 {local_text(event, event.cancel_deadline)} 截止",
            deadline=_local_iso(event, event.cancel_deadline),
        )
    _cancel(session, event, row, now)
    audit.log(
        session, actor=f"user:acc:{account_id}", action="event.cancel_signup", subject_type="event_signup",
        subject_id=row.id,
    )  # fmt: skip
    return row


def _cancel(session: Session, event: Event, row: EventSignup, now: datetime) -> None:
    held_seat = row.status == "confirmed"
    row.status = "cancelled"
    row.cancelled_at = now
    _erase_answers(row)
    scope = _scope(event)
    if row.account_id is not None:
        for kind in ("event_data", "organiser_sharing"):
            consent.withdraw(session, kind=kind, account_id=row.account_id, scope=scope)
    session.flush()
    if held_seat:
        _promote(session, event)


def _promote(session: Session, event: Event) -> list[EventSignup]:
    """Fill free seats from the head of the waiting list, telling each person promoted. Caller holds the lock."""
    now = clock.now()
    if event.status != "scheduled" or now >= event.starts_at:
        return []
    free = None if event.capacity is None else event.capacity - _count(session, event.id, "confirmed")
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
        _tell(session, row, "event_promoted", urgent=False, dedupe=f"promoted:{row.queue_number}")
    session.flush()
    return promoted


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


# ---------------------------------------------------------------- check-in


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


# ---------------------------------------------------------------- reminders and purpose-bound data


def send_reminders(session: Session, *, before: timedelta, limit: int = 1000) -> int:
    """Enqueue the reminder of each confirmed sign-up of an event starting within `before`, once.

    Sign-ups confirmed after the reminder time get none (they just signed up or were just told of a seat).
    """
    now = clock.now()
    events = session.scalars(
        select(Event).where(
            Event.status == "scheduled", Event.starts_at > now, Event.starts_at <= now + before
        )
    )
    sent = 0
    for event in list(events):
        reminder_time = event.starts_at - before
        rows = session.scalars(
            select(EventSignup)
            .where(
                EventSignup.event_id == event.id,
                EventSignup.status == "confirmed",
                EventSignup.reminded_at.is_(None),
                EventSignup.confirmed_at < reminder_time,
            )
            .order_by(EventSignup.id)
            .limit(limit - sent)
        )
        for row in rows:
            row.reminded_at = now
            _tell(
                session,
                row,
                "event_reminder",
                urgent=False,
                dedupe=f"{row.queue_number}:{event.starts_at:%Y%m%d%H%M}",
            )
            sent += 1
        if sent >= limit:
            break
    session.flush()
    return sent


def erase_ended_events(session: Session, cutoff: datetime, *, limit: int = 200) -> retention.Purged:
    """The retention rule of "event_signups": erase the personal fields of every sign-up of the events that
    ended before `cutoff`. The rows stay, anonymous, so the counts (signed up, waitlisted, attended) outlive
    the data."""
    now = clock.now()
    ended = list(
        session.scalars(
            select(Event)
            .where(Event.personal_data_erased_at.is_(None), Event.ends_at <= cutoff)
            .order_by(Event.ends_at)
            .limit(limit)
            .with_for_update()
        )
    )
    anonymised = 0
    for event in ended:
        result = session.execute(
            update(EventSignup)
            .where(EventSignup.event_id == event.id, EventSignup.anonymised_at.is_(None))
            .values({**_ANONYMOUS, "anonymised_at": now})
            .execution_options(synchronize_session=False)
        )
        anonymised += result.rowcount  # type: ignore[attr-defined]
        event.personal_data_erased_at = now
        audit.log(
            session, actor="system", action="event.erase_personal_data", subject_type="event",
            subject_id=event.id,
        )  # fmt: skip
    session.flush()
    return retention.Purged(anonymised=anonymised)


# An anonymous sign-up: every column declared personal set to NULL (the declarations are the eraser's
# list), and the link to the person cut.
_ANONYMOUS: dict[str, None] = {
    **{column.key: None for column in EventSignup.__table__.columns if "personal" in column.info},
    "account_id": None,
    "identity_id": None,
}


def _erase_answers(row: EventSignup) -> None:
    row.name = row.school = row.major = row.phone_enc = row.phone_masked = None
    row.graduation_year = row.birth_year = None


EXPORT_COLUMNS = {
    "name": "姓名",
    "school": "学校",
    "major": "专业",
    "graduation_year": "毕业年份",
    "birth_year": "出生年份",
    "phone": "手机号",
}


def organiser_export(session: Session, *, event_id: str, erase_after: timedelta) -> str:
    """CSV of the confirmed sign-ups who agreed to share with the organiser; phones masked.

    Gone once the event's personal data is erased (or due to be).
    """
    event = get_event(session, event_id)
    if event.personal_data_erased_at is not None or clock.now() >= event.ends_at + erase_after:
        raise Gone("erased", "the personal data of this event has been erased")
    sharing = select(Consent.account_id).where(
        Consent.kind == "organiser_sharing", Consent.scope == _scope(event), Consent.withdrawn_at.is_(None)
    )
    rows = session.scalars(
        select(EventSignup)
        .where(
            EventSignup.event_id == event.id,
            EventSignup.status == "confirmed",
            EventSignup.account_id.in_(sharing),
        )
        .order_by(EventSignup.queue_number)
    )
    columns = event.fields
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", *(EXPORT_COLUMNS[c] for c in columns), "签到时间"])
    count = 0
    for row in rows:
        values = [row.phone_masked if c == "phone" else getattr(row, c) for c in columns]
        checked_in = local_text(event, row.checked_in_at) if row.checked_in_at else ""
        writer.writerow([row.queue_number, *(_csv_cell(v) for v in values), checked_in])
        count += 1
    audit.log(
        session, actor="platform", action="event.organiser_export", subject_type="event", subject_id=event.id,
        detail=f"{count} rows",
    )  # fmt: skip
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    """Text a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---------------------------------------------------------------- the user's rights


def export_account(session: Session, account_id: int) -> list[dict[str, Any]]:
    out = []
    for row in signups_of(session, account_id):
        item = signup_view(row)
        item.pop("checkin_code")
        item["given"] = {
            "name": row.name,
            "school": row.school,
            "major": row.major,
            "graduation_year": row.graduation_year,
            "birth_year": row.birth_year,
            "phone": row.phone_masked,
        }
        out.append(item)
    return out


def erase_account(session: Session, account_id: int) -> dict[str, int]:
    """Leave every event not yet started (the seat goes to the next in line), then anonymise every sign-up."""
    rows = signups_of(session, account_id)
    now = clock.now()
    for row in rows:
        if row.status != "cancelled" and row.event.starts_at > now:
            event = _lock_event(session, row.event.external_id)
            assert event is not None
            _cancel(session, event, row, now)
    ids = [row.id for row in rows]
    if ids:
        session.execute(
            update(EventSignup)
            .where(EventSignup.id.in_(ids))
            .values({**_ANONYMOUS, "anonymised_at": now})
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return {"event_signups": len(ids)}


CORRECTABLE = ("name", "school", "major", "graduation_year")
_TEXT_LIMITS = {"name": 50, "school": 100, "major": 100}


def correct_account(session: Session, account_id: int, changes: dict[str, Any]) -> list[str]:
    """Correct what the account gave for its current sign-ups (where each event asked for the field);
    returns the fields that changed. A refused value raises rights.InvalidCorrection."""
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        errors = _Errors()
        if name == "graduation_year":
            year = clock.now().year
            cleaned[name] = _year(value, name, year - 80, year + 10, errors)
        else:
            cleaned[name] = _clean_text(value, name, _TEXT_LIMITS[name], errors, required=True)
        if errors.errors:
            raise rights.InvalidCorrection(name, errors.errors[name])
    try:
        _check_age(cleaned)
    except EventsError as exc:
        raise rights.InvalidCorrection(exc.extra.get("field", "graduation_year"), exc.message) from None
    changed: set[str] = set()
    for row in signups_of(session, account_id):
        if row.status == "cancelled" or row.anonymised_at is not None:
            continue
        for name, value in cleaned.items():
            if name in row.event.fields and getattr(row, name) != value:
                setattr(row, name, value)
                changed.add(name)
    session.flush()
    return sorted(changed)


def _on_event_data_withdrawn(
    session: Session, account_id: int | None, _identity_id: int | None, scope: str
) -> None:
    """Without consent to use the fields for the event, the sign-up cannot stand: leave the event (the seat
    goes to the next in line) or, once it has started, just erase the fields."""
    if account_id is None or not scope.startswith("event:") or not scope[6:].isdigit():
        return
    row = find_signup(session, int(scope[6:]), account_id)
    if row is None or row.anonymised_at is not None:
        return
    if row.status != "cancelled" and row.event.starts_at > clock.now():
        event = _lock_event(session, row.event.external_id)
        assert event is not None
        _cancel(session, event, row, clock.now())
    _erase_answers(row)
    session.flush()


PERSONAL_DATA = rights.DataDeclaration(
    "events",
    export_account,
    erase_account,
    tables=("event_signups",),
    correctable=CORRECTABLE,
    correct=correct_account,
    retention=(
        retention.RetentionRule(
            "event_signups",
            erase_ended_events,
            "event sign-ups: name, school, major, years, phone, check-in code and the link to the account are "
            "erased after the event's end; the anonymous rows keep the counts",
        ),
    ),
    withdrawals={"event_data": _on_event_data_withdrawn},
)


# ---------------------------------------------------------------- helpers


def _lock_event(session: Session, external_id: str) -> Event | None:
    """The event row, locked until the transaction ends (SQLite: BEGIN IMMEDIATE already serialises)."""
    return session.scalars(
        select(Event)
        .where(Event.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _count(session: Session, event_id: int, status: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(EventSignup.event_id == event_id, EventSignup.status == status)
        )
        or 0
    )


def _active_signups(session: Session, event_id: int) -> list[EventSignup]:
    return list(
        session.scalars(
            select(EventSignup)
            .where(EventSignup.event_id == event_id, EventSignup.status.in_(("confirmed", "waitlisted")))
            .order_by(EventSignup.queue_number)
        )
    )


def _scope(event: Event) -> str:
    return f"event:{event.id}"


def event_zone(event: Event) -> tzinfo:
    """The event's own offset: people at the event read its times there."""
    return timezone(timedelta(minutes=event.utc_offset_minutes))


def _local(event: Event, moment: datetime) -> datetime:
    return clock.to_local(moment, event_zone(event))


def _local_iso(event: Event, moment: datetime) -> str:
    return _local(event, moment).isoformat()


def local_text(event: Event, moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as people at the event read it."""
    return clock.local_text(moment, event_zone(event), fmt)


KIND_NAMES = {"talk": "宣讲会", "online_talk": "空中宣讲", "job_fair": "双选会"}
# The names a configured event template may use in its fields and page.
TEMPLATE_DATA = ("event_id", "title", "kind", "when", "where", "organiser")


def _tell(session: Session, row: EventSignup, purpose: str, *, urgent: bool, dedupe: str) -> None:
    """Enqueue a message about this sign-up through the push pipeline, in the caller's transaction.

    `purpose` is also the template key: [notify.templates.<purpose>.<app>] maps a template's fields to the
    names of TEMPLATE_DATA (e.g. thing1 = "{title}", time2 = "{when}", page = "...?event_id={event_id}").
    """
    if row.account_id is None and row.identity_id is None:
        return
    event = row.event
    data = {
        "event_id": event.external_id,
        "title": event.title,
        "kind": KIND_NAMES[event.kind],
        "when": local_text(event, event.starts_at),
        "where": event.venue or event.live_url or "",
        "organiser": event.organiser,
    }
    text = _push_texts.get_template(f"{purpose}.txt").render(**data).strip()
    enqueue(
        session,
        purpose=purpose,
        account_id=row.account_id,
        identity_id=row.identity_id,
        content=PushContent(
            text=text, template=TemplateContent(purpose, data), subscribe=SubscribeContent(purpose, data)
        ),
        dedupe_key=f"{purpose}:{row.id}:{dedupe}",
        # A newer word about the same sign-up (a move, a cancellation, the reminder) replaces an unsent one.
        supersede_key=None if purpose == "event_promoted" else f"event_signup:{row.id}",
        urgent=urgent,
        source_type="event_signup",
        source_id=row.id,
    )
