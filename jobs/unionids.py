"""Followers' unionids: official-account callbacks carry only the openid, so this job asks WeChat's user/info
(wechat-platform.md §8) for followers not checked yet, outside any callback. A unionid found joins the
follower to the account of the same person's other WeChat identities (wxbot.identity.adopt_unionid).

`unionid_checked_at` empty means "ask": set on the first contact and again on every new follow (the official
account may have been bound to the Open Platform since). Each call is made outside a database transaction.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from wxbot import clock, followers
from wxbot import identity as identities
from wxbot.db import session_scope
from wxbot.models.identity import Identity
from wxbot.services import Services
from wxbot.wechat.api import wechat_api
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

BATCH = 200  # followers per official account per run (user/info has a daily quota)
# The follower is unknown to this official account (40003) or has not followed it (43004): nothing to learn.
NOTHING_TO_LEARN = frozenset({40003, 43004})


def fetch_unionids(services: Services) -> int:
    """One pass over every official account; returns how many followers were checked."""
    api = wechat_api(services)
    checked = 0
    for oa in services.settings.wechat.official:
        with session_scope(services.session_factory) as session:
            pending = session.execute(
                select(Identity.id, Identity.openid)
                .where(
                    Identity.appid == oa.appid,
                    Identity.kind == "official",
                    Identity.subscribed.is_(True),
                    Identity.unionid_checked_at.is_(None),
                )
                .order_by(Identity.id)
                .limit(BATCH)
            ).all()
        for identity_id, openid in pending:
            try:
                info = api.user_info(oa.name, openid)
            except WeChatError as exc:
                if exc.errcode not in NOTHING_TO_LEARN:
                    # quota, rate limit, busy, permission: try this official account again next run
                    log.warning(
                        "unionids: user/info refused with errcode %s on %s; next run", exc.errcode, oa.name
                    )
                    break
                info = {"subscribe": 0}
            except WeChatUnavailable:
                log.warning("unionids: WeChat unavailable for %s; next run", oa.name)
                break
            with session_scope(services.session_factory) as session:
                identity = session.get(Identity, identity_id)
                if identity is None:
                    continue
                identity.unionid_checked_at = clock.now()
                if not info.get("subscribe"):
                    followers.unfollowed(session, identity)
                elif isinstance(info.get("unionid"), str) and info["unionid"]:
                    identities.adopt_unionid(session, identity, info["unionid"][:64])
            checked += 1
    return checked
