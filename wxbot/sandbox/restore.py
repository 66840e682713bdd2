"""The sandbox WeChat's followers after a restart, from the bot's database.

The sandbox keeps its state in memory; the bot keeps its followers in the database. Without this, a restart
of `make run` left the database's followers unknown to the sandbox, and every push to them failed with 40003.
The sandbox learns again, from the identities of its configured apps, who follows (with the unionid) and the
customer-service windows still open. The chat lines it showed on its page are not kept.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from wxbot import clock
from wxbot.models.identity import Identity
from wxbot.sandbox.state import SandboxState
from wxbot.services import Services

log = logging.getLogger(__name__)


def restore_followers(state: SandboxState, services: Services) -> int:
    """Tell the sandbox every identity of its apps in the database; the number told."""
    appids = {app.appid for app in state.apps()}
    now = clock.now()
    try:
        with services.session_factory() as session:
            identities = list(session.scalars(select(Identity).where(Identity.appid.in_(appids))))
    except OperationalError:  # before the first `wxbot db upgrade`: nobody to remember
        return 0
    for identity in identities:
        official = identity.kind == "official"
        state.set_follower(identity.appid, identity.openid, subscribed=identity.subscribed or not official,
                           unionid=identity.unionid)  # fmt: skip
        # the windows still open, kept on the identity's row (wxbot.conversations.reply_window)
        for kind, expires_at, remaining in (
            ("message", identity.message_window_expires_at, identity.message_window_remaining),
            ("action", identity.action_window_expires_at, identity.action_window_remaining),
        ):
            if expires_at is not None and expires_at > now:
                state.restore_grant(identity.appid, identity.openid, kind, remaining, expires_at)
    if identities:
        log.info("sandbox: %d followers restored from the database", len(identities))
    return len(identities)
