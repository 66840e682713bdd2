"""POST /platform/applications/status: the platform reports a change of an application's status."""

from __future__ import annotations

from typing import Any

from wxbot.applications import status_changes as applications
from wxbot.platform import bp, json_body
from wxbot.web import abort_api, db, services


@bp.post("/applications/status")
def application_status() -> tuple[dict[str, Any], int]:
    body = json_body()
    try:
        event = applications.parse_status_event(body)
    except applications.InvalidField as exc:
        abort_api(400, exc.code, str(exc), field=exc.field)
    session = db()
    try:
        change, _created = applications.record_status_change(
            session, event, tz=services().settings.app.timezone
        )
        answer = applications.answer(change)
        session.commit()
    except applications.Conflict as exc:
        session.rollback()
        abort_api(409, "conflict", str(exc))
    return answer, 200
