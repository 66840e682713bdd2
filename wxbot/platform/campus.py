"""The platform's side of campus events: upsert events, check people in at the door, export the attendee
list for the organiser, read the counts.

Every upsert carries `version`, the platform's own counter for that event: an update whose version is not
above the stored one (a late or replayed older delivery) changes nothing and answers 200 `"stale": true`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from wxbot.campus import export, schedule, spec, views
from wxbot.campus.checkin import check_in
from wxbot.campus.fields import invalid_fields
from wxbot.db import is_deadlock
from wxbot.errors import Invalid
from wxbot.models.campus import Event
from wxbot.platform import bp
from wxbot.web import abort_api, db, json_body, services

ATTEMPTS = 3
MAX_VERSION = 2**63 - 1  # a signed BIGINT


def _parse(body: dict[str, Any]) -> tuple[spec.EventSpec, int]:
    """The event and its version; one refusal names every wrong field, version included."""
    problems: dict[str, str] = {}
    event: spec.EventSpec | None = None
    try:
        event = spec.parse_event(body)
    except Invalid as exc:
        problems = dict(exc.details["fields"])
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        problems["version"] = (
            f"required: the platform's counter for this event, a whole number 0 to {MAX_VERSION}"
        )
    if problems:
        raise invalid_fields(problems)
    assert event is not None and isinstance(version, int)  # checked above
    return event, version


def _stored_version(session: Session, external_id: str) -> tuple[bool, int | None]:
    """Whether the event exists and its version, its row locked until the transaction ends (the upsert
    that follows takes the same lock, so nothing newer can slip in between)."""
    row = session.execute(
        select(Event.version).where(Event.external_id == external_id).with_for_update()
    ).first()
    return row is not None, row[0] if row is not None else None


def _upsert(event: spec.EventSpec, version: int) -> schedule.UpsertResult | None:
    """The upsert, or None when the stored version is as new or newer (stale: nothing changed).

    Several first deliveries of one new event at once can deadlock on MariaDB: the losers of the insert
    race each hold a shared lock on the new key and then all want it exclusively. The victim tries again.
    A loser that ends up updating the winner's fresh row starts over too, so that its version is compared.
    """
    session = db()
    for attempt in range(1, ATTEMPTS + 2):
        try:
            existed, stored = _stored_version(session, event.external_id)
            if stored is not None and version <= stored:
                session.rollback()
                return None
            result = schedule.upsert_event(session, event)
            if not existed and not result.created and attempt <= ATTEMPTS:
                session.rollback()
                continue
            result.event.version = version
            session.commit()
            return result
        except OperationalError as exc:
            session.rollback()
            if not is_deadlock(exc) or attempt >= ATTEMPTS:
                raise
    raise AssertionError("unreachable")


@bp.post("/events")
def upsert_event():
    event, version = _parse(json_body())
    result = _upsert(event, version)
    if result is None:  # the same answer as an update that changed nothing, marked stale
        body = {"event_id": event.external_id, "created": False, "moved": False, "cancelled": False,
                "notified": 0, "promoted": 0, "stale": True}  # fmt: skip
        return body, 200
    body = {
        "event_id": result.event.external_id,
        "created": result.created,
        "moved": result.moved,
        "cancelled": result.cancelled,
        "notified": result.notified,
        "promoted": result.promoted,
        "stale": False,
    }
    return body, 201 if result.created else 200


@bp.get("/events/<event_id>")
def event_stats(event_id: str):
    session = db()
    event = views.get_event(session, event_id)
    confirmed = views.confirmed_counts(session, [event.id]).get(event.id, 0)
    return {
        **views.event_view(event, confirmed),
        "counts": views.event_counts(session, event.id),
        "personal_data_erased": event.personal_data_erased_at is not None,
        "version": event.version,
    }


@bp.post("/checkin")
def checkin():
    body = json_body()
    event_id, code = body.get("event_id"), body.get("code")
    if not isinstance(event_id, str) or not event_id:
        abort_api(400, "invalid_field", "event_id: required, a string", field="event_id")
    if not isinstance(code, str) or not code:
        abort_api(400, "invalid_field", "code: required, a string", field="code")
    opens_before = timedelta(minutes=services().settings.events.checkin_opens_minutes_before)
    session = db()
    result = check_in(session, event_id=event_id, code=code, opens_before=opens_before)
    session.commit()
    return {"result": result}


@bp.get("/events/<event_id>/attendees.csv")
def organiser_export(event_id: str):
    """The organiser's attendee list: consenting confirmed sign-ups only, phones masked; gone after erasure."""
    erase_after = timedelta(days=services().settings.retention.days("event_signups"))
    session = db()
    text = export.organiser_export(session, event_id=event_id, erase_after=erase_after)
    session.commit()  # the audit entry of the export
    # A byte-order mark so that spreadsheet programs read the Chinese headers as UTF-8.
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="attendees-{event_id}.csv"'},
    )
