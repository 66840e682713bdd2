"""The platform's event payload: `parse_event` checks it and gives an `EventSpec`, or an `Invalid` that names
every wrong field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wxbot.campus.fields import FieldErrors, clean_text, invalid_fields
from wxbot.models.campus import EVENT_KINDS, EVENT_STATUSES

SIGNUP_FIELDS = ("name", "school", "major", "graduation_year", "birth_year", "phone")
MAX_CAPACITY = 100_000
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


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


def _parse_datetime(value: Any, name: str, errors: FieldErrors) -> tuple[datetime, int] | None:
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
    """Validate the platform's event JSON; an Invalid names every wrong field."""
    if not isinstance(payload, dict):
        raise invalid_fields({"body": "must be a JSON object"})
    errors = FieldErrors()
    external_id = payload.get("event_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id):
        errors.add("event_id", "required: 1-64 letters, digits, _ . : - (starting with a letter or digit)")
    kind = payload.get("kind")
    if kind not in EVENT_KINDS:
        errors.add("kind", f"one of {', '.join(EVENT_KINDS)}")
    title = clean_text(payload.get("title"), "title", 200, errors, required=True)
    organiser = clean_text(payload.get("organiser"), "organiser", 200, errors, required=True)
    school = clean_text(payload.get("school"), "school", 100, errors, required=False)
    city = clean_text(payload.get("city"), "city", 64, errors, required=False)
    starts = _parse_datetime(payload.get("starts_at"), "starts_at", errors)
    ends = _parse_datetime(payload.get("ends_at"), "ends_at", errors)
    starts_at = starts[0] if starts else None
    ends_at = ends[0] if ends else None
    if starts_at and ends_at:
        if ends_at <= starts_at:
            errors.add("ends_at", "must be after starts_at")
        elif ends_at - starts_at > timedelta(days=31):
            errors.add("ends_at", "an event lasts at most 31 days")
    venue = clean_text(payload.get("venue"), "venue", 200, errors, required=kind in ("talk", "job_fair"))
    live_url = clean_text(payload.get("live_url"), "live_url", 500, errors, required=kind == "online_talk")
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
