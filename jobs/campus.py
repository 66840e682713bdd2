"""Campus-event jobs: the reminder before each event.

The erasure of the sign-ups' personal fields after the event is a retention rule (wxbot.campus.personal_data
registers "event_signups"), run by the daily retention job (jobs/retention.py) with [retention] event_signups_days.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from wxbot.campus import reminders
from wxbot.db import session_scope
from wxbot.services import Services

log = logging.getLogger(__name__)


def send_event_reminders(services: Services) -> int:
    """Enqueue the reminder of every confirmed sign-up whose event starts within the configured time."""
    before = timedelta(hours=services.settings.events.reminder_hours_before)
    with session_scope(services.session_factory) as session:
        sent = reminders.send_reminders(session, before=before)
    if sent:
        log.info("event reminders enqueued: %d", sent)
    return sent
