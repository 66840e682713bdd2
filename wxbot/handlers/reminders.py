"""Status reminders on the official account: the seeker's choice by keyword, template delivery reports,
and subscribe authorisations (granted in a popup, withdrawn in settings)."""

from __future__ import annotations

from typing import Any

from wxbot.applications import status_changes as applications
from wxbot.handlers.replies import Reply, text_reply
from wxbot.handlers.router import HandlerContext, Router
from wxbot.push import grants, results

# keyword -> reminder choice (listed in help.txt and in the replies)
CHOICE_KEYWORDS = {
    "退订": "off",
    "关闭提醒": "off",
    "订阅全部": "all",
    "全部提醒": "all",
    "只提醒关键": "key",
    "关键提醒": "key",
}
SETTINGS_KEYWORDS = ("提醒设置",)


def set_choice(ctx: HandlerContext) -> Reply:
    account = ctx.account
    if account is None:
        return text_reply("reminders_unlinked")
    choice = CHOICE_KEYWORDS[(ctx.message.content or "").strip()]
    stopped = applications.set_reminder_choice(ctx.session, account.id, choice, channel="official_account")
    return text_reply("reminders_set", choice=choice, stopped=stopped)


def show_choice(ctx: HandlerContext) -> Reply:
    account = ctx.account
    if account is None:
        return text_reply("reminders_unlinked")
    return text_reply("reminders_status", choice=account.reminder_pref)


def template_finished(ctx: HandlerContext) -> None:
    msgid, status = ctx.message.fields.get("MsgID"), ctx.message.fields.get("Status")
    if isinstance(msgid, str) and isinstance(status, str) and msgid.isdigit():
        results.template_job_finished(ctx.session, ctx.message.app_name, msgid, status[:64])


def subscriptions_changed(ctx: HandlerContext) -> None:
    """accept: one more send of that template; reject in settings (change event): unused ones are gone.
    Only templates this app sends are kept."""
    ours = {
        t.template_id
        for per_app in ctx.services.settings.notify.templates.values()
        for app_name, t in per_app.items()
        if app_name == ctx.message.app_name
    }
    for template_id, answer in _subscription_items(ctx.message.fields):
        if template_id not in ours:
            continue
        if answer == "accept":
            grants.record_grant(ctx.session, ctx.identity_id, template_id, source="event")
        elif answer == "reject" and ctx.message.event == "subscribe_msg_change_event":
            grants.revoke_grants(ctx.session, ctx.identity_id, template_id)


def _subscription_items(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(TemplateId, SubscribeStatusString) pairs; WeChat wraps them in either element name, and <List> is
    one element or several (wechat-platform.md §3.2)."""
    wrapper = fields.get("SubscribeMsgPopupEvent") or fields.get("SubscribeMsgChangeEvent")
    items = wrapper.get("List") if isinstance(wrapper, dict) else None
    found = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            template_id, answer = item.get("TemplateId"), item.get("SubscribeStatusString")
            if isinstance(template_id, str) and isinstance(answer, str):
                found.append((template_id[:128], answer.strip().lower()))
    return found


def register(router: Router) -> None:
    router.keyword(*CHOICE_KEYWORDS)(set_choice)
    router.keyword(*SETTINGS_KEYWORDS)(show_choice)
    router.event("templatesendjobfinish")(template_finished)
    router.event("subscribe_msg_popup_event", "subscribe_msg_change_event")(subscriptions_changed)
