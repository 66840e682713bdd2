"""Learn the unionid of official-account followers through user/info, a small batch per run.

The callback never waits on WeChat: it only marks a follow (unionid_checked_at empty), and this job asks.
Each answer is written in its own short transaction, never while a call to WeChat is open.
"""

from __future__ import annotations

import logging

from wxbot.db import session_scope
from wxbot.identity import unionid
from wxbot.services import Services
from wxbot.wechat.api import UnknownApp
from wxbot.wechat.errors import OPENID_UNKNOWN, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

# 100 every 30 s drains a backlog of 12,000 new followers an hour, well inside user/info's daily quota.
BATCH_SIZE = 100
INTERVAL_SECONDS = 30


def fetch_unionids(services: Services, batch_size: int = BATCH_SIZE) -> None:
    api = services.wechat
    with session_scope(services.session_factory) as session:
        due = unionid.due_for_check(session, batch_size)
    for identity_id, app_name, openid, subscribed_at in due:
        try:
            info = api.user_info(app_name, openid)
        except (UnknownApp, WeChatError) as exc:
            if isinstance(exc, WeChatError) and exc.errcode != OPENID_UNKNOWN:
                # Busy, quota, permissions: the rest of the batch would fare no better; next run tries again.
                log.warning("user/info failed with %s; stopping this run", exc.errcode)
                return
            # An openid WeChat does not relate to this app, or an app no longer configured: nothing to learn.
            with session_scope(services.session_factory) as session:
                unionid.record_unknown(session, identity_id, subscribed_at)
            continue
        except WeChatUnavailable as exc:
            log.warning("user/info unavailable (%s); stopping this run", exc)
            return
        with session_scope(services.session_factory) as session:
            unionid.record_user_info(session, identity_id, subscribed_at, info)
