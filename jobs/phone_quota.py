"""Daily: each mini program's paid phone-number quota from WeChat (wxa/charge/usage/get), recorded for the
console's admin page, and a warning in the log when it runs low (wxbot.identity.phone_quota)."""

from __future__ import annotations

import logging

from wxbot.db import session_scope
from wxbot.identity import phone_quota
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 24 * 3600


def check_phone_quota(services: Services) -> int:
    """Ask WeChat for every mini program's quota; returns how many are low (below the warning threshold)."""
    settings = services.settings
    warn_below = settings.identity.phone_quota_warn_below
    low = 0
    for mp in settings.wechat.miniprogram:
        try:
            usage = services.wechat.phone_quota(mp.name)
        except (WeChatError, WeChatUnavailable) as exc:
            log.warning("phone quota check failed app=%s: %s", mp.name, exc)
            continue
        with session_scope(services.session_factory) as session:
            phone_quota.record_check(session, mp.name, total=usage["total"], used=usage["used"])
            session.flush()
            (view,) = phone_quota.overview(session, [mp.name], warn_below)
        if view.low:
            low += 1
            log.warning(
                "phone quota low app=%s remaining=%s (warning below %d): buy a pack in the mini program's "
                "付费管理 before phone authorisation stops (1400001)",
                mp.name,
                view.remaining,
                warn_below,
            )
    return low
