"""What a sign-up's person is told, through the push pipeline: the reminder before the event, a move, a
cancellation, a seat from the waiting list. The texts are templates/push/event_*.txt."""

from __future__ import annotations

from datetime import timedelta

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus.views import KIND_NAMES, event_zone
from wxbot.models.campus import Event, EventSignup
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue

_push_texts = Environment(
    loader=PackageLoader("wxbot", "templates/push"),
    undefined=StrictUndefined,
    autoescape=False,  # noqa: S701  plain-text WeChat messages, never HTML
    keep_trailing_newline=False,
)
# The names a configured event template may use in its fields and page.
TEMPLATE_DATA = ("event_id", "title", "kind", "when", "where", "organiser")


def tell(session: Session, row: EventSignup, purpose: str, *, urgent: bool, dedupe: str) -> None:
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
        "when": clock.local_text(event.starts_at, event_zone(event)),
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
            tell(
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
