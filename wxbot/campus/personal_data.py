"""What campus events hold about a person, declared for the rights registry: the sign-ups and the fields
given for each event. Export, erasure, correction, the withdrawal of consent to an event's use of the fields,
and the retention rule that erases them after the event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus.fields import FieldErrors, check_age, clean_text, clean_year
from wxbot.campus.signups import cancel, erase_answers, lock_event
from wxbot.campus.views import find_signup, signup_view, signups_of
from wxbot.errors import DomainError
from wxbot.models.campus import Event, EventSignup
from wxbot.privacy import audit, retention
from wxbot.privacy import registry as rights

# An anonymous sign-up: every column declared personal set to NULL (the declarations are the eraser's
# list), and the link to the person cut.
_ANONYMOUS: dict[str, None] = {
    **{column.key: None for column in EventSignup.__table__.columns if "personal" in column.info},
    "account_id": None,
    "identity_id": None,
}


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
            event = lock_event(session, row.event.external_id)
            assert event is not None
            cancel(session, event, row, now)
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
        errors = FieldErrors()
        if name == "graduation_year":
            year = clock.now().year
            cleaned[name] = clean_year(value, name, year - 80, year + 10, errors)
        else:
            cleaned[name] = clean_text(value, name, _TEXT_LIMITS[name], errors, required=True)
        if errors.errors:
            raise rights.InvalidCorrection(name, errors.errors[name])
    try:
        check_age(cleaned)
    except DomainError as exc:
        raise rights.InvalidCorrection(exc.details.get("field", "graduation_year"), exc.message) from None
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
        event = lock_event(session, row.event.external_id)
        assert event is not None
        cancel(session, event, row, clock.now())
    erase_answers(row)
    session.flush()


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
