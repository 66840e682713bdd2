"""POST /platform/applications/status: the platform reports a change of an application's status."""

from __future__ import annotations

from typing import Any

from wxbot.applications import status_changes as applications
from wxbot.platform import bp
from wxbot.web import db, json_body, services


@bp.post("/applications/status")
def application_status() -> tuple[dict[str, Any], int]:
    event = applications.parse_status_event(json_body())
    session = db()
    settings = services().settings
    change, _created = applications.record_status_change(session, event, settings=settings)
    session.flush()
    answer = applications.answer(change, settings.app.timezone)
    session.commit()
    return answer, 200
