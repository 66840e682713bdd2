"""The metrics that are state, not events: read from the database and the cache at scrape time.

Every process that answers a scrape reads the same rows, so these are the same whichever process answers
(in Prometheus take max() over instances, not sum()). A few indexed counts per scrape; a scrape that cannot
reach the database reports wxbot_state_up 0 instead of failing the whole scrape. The quota figures are the
samples the `quota` job keeps in the shared cache (wechat-platform.md §10: openapi/quota/get).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from wxbot import clock
from wxbot.cache import CacheUnavailable
from wxbot.config import Settings
from wxbot.models.conversations import Conversation
from wxbot.models.identity import Identity
from wxbot.models.outbox import Notification
from wxbot.push.app_health import app_health
from wxbot.services import Services

log = logging.getLogger(__name__)

# A conversation whose follower's customer-service window ends within this long is "closing".
WINDOW_CLOSING = timedelta(hours=6)
QUOTA_KEY = "metrics:quota:{appid}:{api}"  # the quota job's samples, JSON {daily_limit, used, remain, at}
DUE_STATUSES = ("pending", "held")


def quota_key(appid: str, api: str) -> str:
    return QUOTA_KEY.format(appid=appid, api=api)


class StateCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("wxbot_state_up", "Whether this scrape could read the database's state")
        try:
            families = list(self._from_database())
        except Exception as exc:  # the scrape still answers, saying so
            log.warning("metrics: database state unavailable (%s)", type(exc).__name__)
            families = []
        up.add_metric([], 1 if families else 0)
        yield up
        yield from families
        yield from self._quota()

    def _from_database(self) -> Iterator[GaugeMetricFamily]:
        services, now = self.services, clock.now()
        with services.session_factory() as session:
            depth = GaugeMetricFamily(
                "wxbot_outbox_rows", "Outbox rows by status and channel (the channel of the send made)",
                labels=["status", "channel"],
            )  # fmt: skip
            rows = session.execute(
                select(Notification.status, Notification.channel, func.count()).group_by(
                    Notification.status, Notification.channel
                )
            ).all()
            for status, channel, count in rows:
                depth.add_metric([status, channel or "none"], count)
            oldest = session.scalar(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.status.in_(DUE_STATUSES), Notification.next_attempt_at <= now
                )
            )
            age = GaugeMetricFamily(
                "wxbot_outbox_oldest_due_seconds",
                "Age of the oldest outbox row due and not yet sent (0: none)",
            )
            age.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
            conversations = GaugeMetricFamily(
                "wxbot_conversations", "留言 conversations: open (the agents' turn), waiting (on the follower), "
                "overdue (past the first-response target), window_closing (the follower's window ends within "
                "6 hours)", labels=["state"],
            )  # fmt: skip
            states = dict(
                session.execute(
                    select(Conversation.state, func.count())
                    .where(Conversation.state != "resolved")
                    .group_by(Conversation.state)
                ).all()
            )
            target = timedelta(hours=services.settings.console.first_response_target_hours)
            overdue = session.scalar(
                select(func.count()).where(
                    Conversation.state != "resolved", Conversation.awaiting_since < now - target
                )
            )
            closing = session.scalar(
                select(func.count(func.distinct(Conversation.id)))
                .join(Identity, Identity.id == Conversation.identity_id)
                .where(
                    Conversation.state == "open",
                    Identity.message_window_expires_at > now,
                    Identity.message_window_expires_at <= now + WINDOW_CLOSING,
                )
            )
            for state in ("open", "waiting"):
                conversations.add_metric([state], states.get(state, 0))
            conversations.add_metric(["overdue"], overdue or 0)
            conversations.add_metric(["window_closing"], closing or 0)
            healthy = GaugeMetricFamily(
                "wxbot_app_healthy", "1 when the app's sends go out; 0 after repeated token errors that a refresh "
                "did not cure (wxbot apps health)", labels=["app"],
            )  # fmt: skip
            for health in app_health(session, services.settings):
                healthy.add_metric([health.app_name], 1 if health.healthy else 0)
        yield from (depth, age, conversations, healthy)

    def _quota(self) -> Iterator[GaugeMetricFamily]:
        remain = GaugeMetricFamily(
            "wxbot_quota_remaining", "Calls left today per app and API, as openapi/quota/get last said",
            labels=["appid", "api"],
        )  # fmt: skip
        limit = GaugeMetricFamily(
            "wxbot_quota_daily_limit", "The daily limit per app and API, as openapi/quota/get last said",
            labels=["appid", "api"],
        )  # fmt: skip
        for _, appid, api in quota_targets(self.services.settings):
            try:
                raw = self.services.cache.get(quota_key(appid, api))
            except CacheUnavailable:
                break
            sample: dict[str, Any] = json.loads(raw) if raw else {}
            if "remain" in sample:
                remain.add_metric([appid, api], sample["remain"])
                limit.add_metric([appid, api], sample["daily_limit"])
        yield from (remain, limit)


def quota_targets(settings: Settings) -> list[tuple[str, str, str]]:
    """(app name, appid, WeChat API path) of every quota the `quota` job samples."""
    metrics = settings.metrics
    found = [(a.name, a.appid, api) for a in settings.wechat.official for api in metrics.official_quota_apis]
    return found + [
        (a.name, a.appid, api) for a in settings.wechat.miniprogram for api in metrics.miniprogram_quota_apis
    ]
