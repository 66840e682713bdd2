"""The organiser's attendee list: a CSV of the confirmed sign-ups who agreed to share, until the event's
personal data is erased."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus.signups import scope_of
from wxbot.campus.views import event_zone, get_event
from wxbot.errors import Gone
from wxbot.models.campus import EventSignup
from wxbot.models.ledger import Consent
from wxbot.privacy import audit

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
        Consent.kind == "organiser_sharing", Consent.scope == scope_of(event), Consent.withdrawn_at.is_(None)
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
        checked_in = clock.local_text(row.checked_in_at, event_zone(event))
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
