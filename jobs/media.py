"""Media followers send into 留言 conversations (images, voice, video): fetched from WeChat's media API and
kept under <var_dir>/media/, where the console serves them to logged-in agents only. Never in the callback.

WeChat keeps a follower's temporary media for 3 days: a transient failure (no answer, busy, a limit) is tried
again on the next runs, up to MAX_ATTEMPTS; a permanent one (the media id is unknown or gone) ends at once.
Either way the agents read why in words (wxbot.conversations.media.problem) and may ask for it again. Files whose message
was erased (the follower's rights, retention) are swept away.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from wxbot.conversations import media
from wxbot.db import session_scope
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 20
BATCH = 20
MAX_ATTEMPTS = 5


def media_root(services: Services) -> Path:
    return Path(services.settings.app.var_dir, "media")


def fetch_media(services: Services) -> int:
    """Fetch what is pending; returns how many files were stored."""
    with session_scope(services.session_factory) as session:
        pending = media.pending(session, limit=BATCH)
    stored = 0
    api = services.wechat
    root = media_root(services)
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
        extension = mimetypes.guess_extension(media.kept_type(content_type)) or ".bin"
        relative = Path(str(item.conversation_id), f"{item.message_id}{extension}")
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(content)
        partial.replace(target)  # an agent never sees half a file
        with session_scope(services.session_factory) as session:
            media.mark_stored(session, item.message_id, str(relative), content_type)
        stored += 1
    sweep_orphans(services)
    return stored


def sweep_orphans(services: Services) -> int:
    """Delete stored files no message refers to any more (erased conversations)."""
    root = media_root(services)
    if not root.is_dir():
        return 0
    files = [p for p in root.glob("*/*") if p.is_file()]
    with session_scope(services.session_factory) as session:
        kept = media.stored_paths(session)
    removed = 0
    for path in files:
        if str(path.relative_to(root)) not in kept and not path.name.endswith(".part"):
            path.unlink(missing_ok=True)
            removed += 1
    for folder in root.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if removed:
        log.info("removed %d media files of erased conversations", removed)
    return removed
