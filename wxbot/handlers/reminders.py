"""Status reminders on the official account: the seeker's choice by keyword, template delivery reports,
and subscribe authorisations (granted in a popup, withdrawn in settings)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wxbot.applications import status_changes as applications
from wxbot.callback.inbound import Inbound
from wxbot.handlers.replies import text_reply
from wxbot.handlers.router import HandlerContext, Router
from wxbot.push import grants, results
from wxbot.wechat.replies import Reply

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


def template_finished(session: Session, message: Inbound) -> None:
    msgid, status = message.fields.get("MsgID"), message.fields.get("Status")
    if isinstance(msgid, str) and isinstance(status, str) and msgid.isdigit() and len(msgid) <= 32:
        results.template_job_finished(session, message.app_name, msgid, status[:64])


def stored_only(session: Session, message: Inbound) -> None:
    """A report kept in the message log and nothing else (wxbot sends no mass messages)."""


def subscriptions_changed(ctx: HandlerContext) -> None:
    """accept: one more send of that template (every send, for a long-term 订阅通知); reject in settings
    (change event): unused ones are gone; reject in a popup: a long-term one is gone. Only templates this app
    sends are kept."""
    notify = ctx.services.settings.notify
    ours: dict[str, bool] = {}  # template id -> long-term
    for templates in (notify.templates, notify.notices):
        for per_app in templates.values():
            template = per_app.get(ctx.message.app_name)
            if template is not None:
                ours[template.template_id] = ours.get(template.template_id, False) or template.long_term
    for template_id, answer in _template_answers(ctx.message):
        if template_id not in ours:
            continue
        long_term = ours[template_id]
        if answer == "accept":
            grants.record_grant(
                ctx.session, ctx.identity_id, template_id, source="event", long_term=long_term
            )
        elif answer == "reject" and (long_term or ctx.message.event == "subscribe_msg_change_event"):
            grants.revoke_grants(ctx.session, ctx.identity_id, template_id)


def notice_sent(session: Session, message: Inbound) -> None:
    """subscribe_msg_sent_event: what became of a 订阅通知 (ErrorCode 0, or WeChat's failure)."""
    for item in message.subscription_items():
        msgid, code, status = item.get("MsgID"), item.get("ErrorCode"), item.get("ErrorStatus")
        if isinstance(msgid, str) and msgid.strip().isdigit() and isinstance(code, str):
            text = status if isinstance(status, str) else ""
            results.notice_sent(session, message.app_name, msgid.strip(), code.strip(), text[:64])


def _template_answers(message: Inbound) -> list[tuple[str, str]]:
    """(TemplateId, SubscribeStatusString) of each entry that has both as text."""
    found = []
    for item in message.subscription_items():
        template_id, answer = item.get("TemplateId"), item.get("SubscribeStatusString")
        if isinstance(template_id, str) and isinstance(answer, str):
            found.append((template_id[:128], answer.strip().lower()))
    return found


def register(router: Router) -> None:
    router.keyword(*CHOICE_KEYWORDS)(set_choice)
    router.keyword(*SETTINGS_KEYWORDS)(show_choice)
    router.report("templatesendjobfinish")(template_finished)
    router.report("subscribe_msg_sent_event")(notice_sent)
    router.report("masssendjobfinish")(stored_only)
    router.event("subscribe_msg_popup_event", "subscribe_msg_change_event")(subscriptions_changed)
