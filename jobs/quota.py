"""Sample each app's daily API quota (cgi-bin/openapi/quota/get) into the shared cache, where every
process's /metrics reads it (wxbot_quota_remaining). One call per app and API per run: quota/get has a daily
quota of its own, and the figure moves slowly enough."""

from __future__ import annotations

import json
import logging

from wxbot import clock
from wxbot.cache import CacheUnavailable
from wxbot.metrics_state import quota_key, quota_targets
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

QUOTA_SECONDS = 600  # every 10 minutes


def sample_quotas(services: Services) -> None:
    ttl = 3 * QUOTA_SECONDS  # a sample outlives two missed runs, then the series goes
    for app_name, appid, api in quota_targets(services.settings):
        try:
            quota = services.wechat.quota(app_name, api)
        except (WeChatError, WeChatUnavailable) as exc:
            log.warning("quota of %s %s not sampled: %s", app_name, api, exc)
            continue
        try:
            services.cache.set(quota_key(appid, api), json.dumps({**quota, "at": clock.timestamp()}), ttl)
        except CacheUnavailable:
            return  # the next run samples again
