"""Once a day, ask WeChat which template messages it intercepted (wxa/sec/queryblocktmplmsg) and mark those
pushes, so that "why didn't I get this" says "intercepted by WeChat" (wxbot.push.interceptions).

One query per template id the official account sends, paged by `largest_id` (100 a page, WeChat's maximum),
at most MAX_PAGES pages per template a run. The calls are made outside any transaction; each page is written
in a short one of its own; marking again what is marked already changes nothing. (A community report, not
confirmed, says the list holds the current day's interceptions only; if so, a daily run sees most of them.)
"""

from __future__ import annotations

import logging

from wxbot.db import session_scope
from wxbot.push import interceptions
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 24 * 3600
PAGE_SIZE = 100
MAX_PAGES = 50


def check_interceptions(services: Services) -> int:
    """Mark what WeChat intercepted, for every official account; how many pushes were newly marked."""
    settings = services.settings
    marked = 0
    for account in settings.wechat.official:
        for template_id in sorted(interceptions.template_ids(settings, account.name)):
            marked += _one_template(services, account.name, template_id)
    if marked:
        log.info("interceptions: %d pushes intercepted by WeChat", marked)
    return marked


def _one_template(services: Services, app_name: str, template_id: str) -> int:
    marked, largest_id = 0, 0
    for _ in range(MAX_PAGES):
        try:
            page = services.wechat.blocked_templates(app_name, template_id, largest_id, PAGE_SIZE)
        except (WeChatError, WeChatUnavailable) as exc:
            log.warning("queryblocktmplmsg failed for app %s: %s", app_name, exc)
            break
        entries = [e for e in (interceptions.Blocked.parse(item) for item in page) if e is not None]
        with session_scope(services.session_factory) as session:
            marked += interceptions.mark_intercepted(session, services.settings, app_name, entries)
        ids = [int(item["id"]) for item in page if str(item.get("id", "")).isdigit()]
        if len(page) < PAGE_SIZE or not ids or max(ids) <= largest_id:
            break
        largest_id = max(ids)
    return marked
