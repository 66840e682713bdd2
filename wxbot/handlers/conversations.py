"""留言 on the official account: 「留言」 (or the menu) opens a conversation with customer service, everything the
follower sends while it is open goes into it, 「结束」 ends their side. The rules live in
wxbot.conversations.conversations."""

from __future__ import annotations

from wxbot.conversations import conversations
from wxbot.handlers import menu
from wxbot.handlers.replies import text_reply
from wxbot.handlers.router import HandlerContext, Priority, Router
from wxbot.wechat.replies import Reply


def _hours(ctx: HandlerContext) -> str:
    return f"{ctx.services.settings.console.first_response_target_hours:g}"


def leave_message(ctx: HandlerContext) -> Reply:
    _, created = conversations.open_for_follower(ctx.session, ctx.identity_id)
    return text_reply("ticket_opened" if created else "ticket_continued", hours=_hours(ctx))


def end_conversation(ctx: HandlerContext) -> Reply:
    if conversations.end_for_follower(ctx.session, ctx.identity_id) is None:
        return text_reply("ticket_none")
    return text_reply("ticket_ended")


def in_open_conversation(ctx: HandlerContext) -> bool:
    return ctx.message.msg_type in conversations.INBOUND_KINDS and conversations.is_capturing(
        ctx.session, ctx.identity_id
    )


def into_conversation(ctx: HandlerContext) -> Reply | None:
    conversation = conversations.capturing_conversation(ctx.session, ctx.identity_id)
    if conversation is None:  # resolved between the check and now
        return None
    message = ctx.message
    added = conversations.add_inbound(
        ctx.session,
        conversation,
        appid=message.appid,
        msg_id=message.msg_id,
        kind=message.msg_type,
        content=message.content or "",
        fields=message.fields,
    )
    if added is not None and added.first:
        return text_reply("ticket_received", hours=_hours(ctx))
    return None  # `success`: the agents have it, the follower need not hear it again


def register(router: Router) -> None:
    router.keyword("留言", priority=Priority.CONVERSATION_COMMAND)(leave_message)
    router.click(menu.LEAVE_MESSAGE, priority=Priority.CONVERSATION_COMMAND)(leave_message)
    router.keyword("结束", priority=Priority.CONVERSATION_COMMAND)(end_conversation)
    router.when(in_open_conversation, priority=Priority.CAPTURE)(into_conversation)
