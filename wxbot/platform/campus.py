"""The platform's side of campus events: upsert events, check people in at the door, export the attendee
list for the organiser, read the counts."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from wxbot.campus import export, schedule, spec, views
from wxbot.campus.checkin import check_in
from wxbot.db import is_deadlock, retry_transaction
from wxbot.platform import bp
from wxbot.web import abort_api, db, json_body, services


def _upsert(event: spec.EventSpec) -> schedule.UpsertResult:
    """Several first deliveries of one new event at once can deadlock on MariaDB: the losers of the insert
    race each hold a shared lock on the new key and then all want it exclusively. The victim tries again."""
    session = db()

    def upsert() -> schedule.UpsertResult:
        result = schedule.upsert_event(session, event)
        session.commit()
        return result

    return retry_transaction(upsert, retry_on=is_deadlock, session=session)


@bp.post("/events")
def upsert_event():
    result = _upsert(spec.parse_event(json_body()))
    body = {
        "event_id": result.event.external_id,
        "created": result.created,
        "moved": result.moved,
        "cancelled": result.cancelled,
        "notified": result.notified,
        "promoted": result.promoted,
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
