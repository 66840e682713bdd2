"""留言 on the official account: 「留言」 (or the menu) opens a conversation with customer service, everything the
follower sends while it is open goes into it, 「结束」 ends their side. The rules live in
wxbot.conversations.conversations."""

from __future__ import annotations

from wxbot.conversations import conversations
from wxbot.handlers import menu
from wxbot.handlers.replies import Reply, text_reply
from wxbot.handlers.router import HandlerContext, router

# Below the rights keywords (wxbot.handlers.privacy), above everything else: while a conversation is open,
# 帮助 or a menu keyword is a message for the agents too. 「留言」 and 「结束」 always keep their meaning.
CAPTURE_PRIORITY = 50
COMMAND_PRIORITY = 60


def _hours(ctx: HandlerContext) -> str:
    return f"{ctx.services.settings.console.first_response_target_hours:g}"


@router.keyword("留言", priority=COMMAND_PRIORITY)
@router.click(menu.LEAVE_MESSAGE, priority=COMMAND_PRIORITY)
def leave_message(ctx: HandlerContext) -> Reply:
    _, created = conversations.open_for_follower(ctx.session, ctx.identity_id)
    return text_reply("ticket_opened" if created else "ticket_continued", hours=_hours(ctx))


@router.keyword("结束", priority=COMMAND_PRIORITY)
def end_conversation(ctx: HandlerContext) -> Reply:
    if conversations.end_for_follower(ctx.session, ctx.identity_id) is None:
        return text_reply("ticket_none")
    return text_reply("ticket_ended")


def in_open_conversation(ctx: HandlerContext) -> bool:
    return ctx.message.msg_type in conversations.INBOUND_KINDS and conversations.is_capturing(
        ctx.session, ctx.identity_id
    )


@router.when(in_open_conversation, priority=CAPTURE_PRIORITY)
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
