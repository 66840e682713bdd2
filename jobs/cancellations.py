"""The cancellation job: when an account's review period is over, erase it in every module (one
transaction per account, so one failure does not hold up the others)."""

from __future__ import annotations

import logging

from wxbot.db import session_scope
from wxbot.privacy import cancellation
from wxbot.services import Services

log = logging.getLogger(__name__)


def run_cancellations(services: Services) -> int:
    """Erase every account whose cancellation is due; returns how many."""
    with session_scope(services.session_factory) as session:
        due = cancellation.due_cancellations(session)
    erased = 0
    for request_id in due:
        try:
            with session_scope(services.session_factory) as session:
                erased += cancellation.complete_cancellation(session, request_id)
        except Exception:
            log.exception("cancellation request %s failed; it stays pending and is retried", request_id)
    return erased
