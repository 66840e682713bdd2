"""Media followers send into 留言 conversations (images, voice, video): fetched from WeChat's media API and
kept in the database (wxbot.conversations.media), where the console on any host serves them to logged-in
agents only. Never in the callback.

WeChat keeps a follower's temporary media for 3 days: a transient failure (no answer, busy, a limit) is tried
again on the next runs, up to MAX_ATTEMPTS; a permanent one (the media id is unknown or gone, a file larger
than the database takes) ends at once. Either way the agents read why in words
(wxbot.conversations.media.problem) and may ask for it again. A file goes with its message when that is
erased (the follower's rights, retention): the database deletes it.
"""

from __future__ import annotations

from wxbot.conversations import media
from wxbot.db import session_scope
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

INTERVAL_SECONDS = 20
BATCH = 20
MAX_ATTEMPTS = 5


def fetch_media(services: Services) -> int:
    """Fetch what is pending; returns how many files were stored."""
    with session_scope(services.session_factory) as session:
        pending = media.pending(session, limit=BATCH)
    stored = 0
    api = services.wechat
    for item in pending:
        try:
            content, content_type = api.get_media(item.app_name, item.media_id)
        except (WeChatError, WeChatUnavailable) as exc:
            code = f"wechat:{exc.errcode}" if isinstance(exc, WeChatError) else media.UNAVAILABLE
            transient = isinstance(exc, WeChatUnavailable) or exc.errcode in media.TRANSIENT
            with session_scope(services.session_factory) as session:
                final = not transient or item.attempts + 1 >= MAX_ATTEMPTS
                media.mark_failed(session, item.message_id, code, final=final)
            continue
        # the bytes and the message's "stored" in one short transaction: an agent never sees half a file
        with session_scope(services.session_factory) as session:
            if media.mark_stored(session, item.message_id, content, content_type):
                stored += 1
    return stored
