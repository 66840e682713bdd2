"""The retention job: every data class kept no longer than its [retention] period, then deleted or
anonymised by the rule its module registered (wxbot.privacy.retention). Counts go to retention_runs, never content.

It runs hourly but does the work once a day: a pass is skipped while the last one is under a day old, so
any number of job processes (each with its own timer) still purge once a day.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from sqlalchemy import func, select

from wxbot import clock
from wxbot.db import session_scope
from wxbot.models.privacy import RetentionRun
from wxbot.privacy import registry, retention
from wxbot.services import Services

log = logging.getLogger(__name__)

INTERVAL = timedelta(days=1)


def run_retention(services: Services, *, force: bool = False) -> dict[str, retention.Purged | None]:
    """One pass over every data class; returns what each rule did (None where it failed or has no rule)."""
    with session_scope(services.session_factory) as session:
        last = session.scalar(select(func.max(RetentionRun.run_at)))
    now = clock.now()
    if not force and last is not None and now - last < INTERVAL - timedelta(minutes=5):
        return {}
    rules = {rule.data_class: rule for rule in registry.retention_rules()}
    configured = [f.name.removesuffix("_days") for f in dataclasses.fields(services.settings.retention)]
    results: dict[str, retention.Purged | None] = {}
    for data_class in sorted(set(configured) | set(rules)):
        rule = rules.get(data_class)
        try:
            cutoff = now - timedelta(days=services.settings.retention.days(data_class))
        except KeyError:
            cutoff, rule = None, None
        run = RetentionRun(run_at=now, data_class=data_class, cutoff=cutoff)
        results[data_class] = None
        if rule is None or cutoff is None:
            # A period without a rule (or a rule without a period) is a promise not kept: make it visible.
            run.error = "no_rule" if rule is None else "no_period"
            log.warning("retention: %s has %s", data_class, run.error.replace("_", " "))
        else:
            try:
                with session_scope(services.session_factory) as session:
                    purged = rule.apply(session, cutoff)
                run.deleted, run.anonymised = purged.deleted, purged.anonymised
                results[data_class] = purged
            except Exception as exc:
                run.error = type(exc).__name__
                log.exception("retention rule %s failed", data_class)
        with session_scope(services.session_factory) as session:
            session.add(run)
    return results
