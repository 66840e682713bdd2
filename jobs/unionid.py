"""Learn the unionid of official-account followers through user/info/batchget (100 a call), a batch per run.

The callback never waits on WeChat: it only marks a follow (unionid_checked_at empty), and this job asks.
Each answer is written in its own short transaction, never while a call to WeChat is open. A batch that WeChat
refuses with 40003 (an openid it does not relate to the app) is asked again one follower at a time
(user/info), so that the stranger is set aside and the others learned.
"""

from __future__ import annotations

import logging
from datetime import datetime
from itertools import groupby
from typing import Any

from wxbot.db import session_scope
from wxbot.identity import unionid
from wxbot.services import Services
from wxbot.wechat import official
from wxbot.wechat.api import UnknownApp
from wxbot.wechat.errors import OPENID_UNKNOWN, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

# 100 every 30 s drains a backlog of 12,000 new followers an hour in one call each run; a burst of 10,000 follows
# at WeChat's normal latency (~100 ms a call) is 100 calls instead of 10,000.
BATCH_SIZE = 100
INTERVAL_SECONDS = 30

Due = tuple[int, str, str, datetime | None]  # identity id, app name, openid, subscribed_at


class _Stop(Exception):
    """WeChat is busy, out of quota or unreachable: the rest of the run would fare no better."""


def fetch_unionids(services: Services, batch_size: int = BATCH_SIZE) -> None:
    with session_scope(services.session_factory) as session:
        due = unionid.due_for_check(session, batch_size)
    try:
        for app_name, rows in groupby(sorted(due, key=lambda r: (r[1], r[0])), key=lambda r: r[1]):
            group = list(rows)
            for i in range(0, len(group), official.BATCHGET_MAX):
                _ask_batch(services, app_name, group[i : i + official.BATCHGET_MAX])
    except _Stop:
        return


def _ask_batch(services: Services, app_name: str, batch: list[Due]) -> None:
    try:
        infos = official.users_info(services.wechat, app_name, [openid for _, _, openid, _ in batch])
    except UnknownApp:
        _unknown(services, batch)  # an app no longer configured: nothing to learn
        return
    except WeChatError as exc:
        if exc.errcode == OPENID_UNKNOWN:
            for row in batch:
                _ask_one(services, row)
            return
        log.warning("user/info/batchget failed with %s; stopping this run", exc.errcode)
        raise _Stop from exc
    except WeChatUnavailable as exc:
        log.warning("user/info/batchget unavailable (%s); stopping this run", exc)
        raise _Stop from exc
    by_openid: dict[Any, dict[str, Any]] = {info.get("openid"): info for info in infos}
    answers = [
        (identity_id, at, by_openid[openid]) for identity_id, _, openid, at in batch if openid in by_openid
    ]
    with session_scope(services.session_factory) as session:
        unionid.record_user_infos(session, answers)


def _ask_one(services: Services, row: Due) -> None:
    identity_id, app_name, openid, subscribed_at = row
    try:
        info = services.wechat.user_info(app_name, openid)
    except WeChatError as exc:
        if exc.errcode != OPENID_UNKNOWN:
            log.warning("user/info failed with %s; stopping this run", exc.errcode)
            raise _Stop from exc
        _unknown(services, [row])
        return
    except WeChatUnavailable as exc:
        log.warning("user/info unavailable (%s); stopping this run", exc)
        raise _Stop from exc
    with session_scope(services.session_factory) as session:
        unionid.record_user_info(session, identity_id, subscribed_at, info)


def _unknown(services: Services, rows: list[Due]) -> None:
    with session_scope(services.session_factory) as session:
        for identity_id, _, _, subscribed_at in rows:
            unionid.record_unknown(session, identity_id, subscribed_at)
