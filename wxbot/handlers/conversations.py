"""留言 on the official account: 「留言」 (or the menu) opens a conversation with customer service, everything the
follower sends while it is open goes into it, 「结束」 ends their side. The rights keywords (我的数据, 注销...)
keep their meaning inside it, and so do [console] follower_commands (帮助, 订阅全部...): answered as ever, and
noted in the conversation for the agents. A message nothing else takes within [console] reopen_hours of a
Resolve reopens the conversation rather than getting the default reply. The rules live in
wxbot.conversations.conversations."""

from __future__ import annotations

from datetime import timedelta

from wxbot.conversations import conversations
from wxbot.handlers import menu
from wxbot.handlers.replies import text_reply
from wxbot.handlers.router import HandlerContext, Priority, Router, normalise
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
    added = _store(ctx)
    if added is not None and added.first:
        return text_reply("ticket_received", hours=_hours(ctx))
    return None  # `success`: the agents have it, the follower need not hear it again


def command_in_conversation(ctx: HandlerContext) -> bool:
    content = ctx.message.content
    if ctx.message.msg_type != "text" or content is None:
        return False
    commands = {normalise(c) for c in ctx.services.settings.console.follower_commands}
    return normalise(content) in commands and in_open_conversation(ctx)


def answer_command(ctx: HandlerContext) -> Reply | None:
    """The command answered as outside a conversation, and noted in it (the agents see what was asked)."""
    _store(ctx)
    router = ctx.services.router
    handler = router.handler_below(ctx, Priority.CAPTURE) if router is not None else None
    return handler(ctx) if handler is not None else None


def _reopen_hours(ctx: HandlerContext) -> timedelta:
    return timedelta(hours=ctx.services.settings.console.reopen_hours)


def follow_up_after_resolve(ctx: HandlerContext) -> bool:
    return ctx.message.msg_type in conversations.INBOUND_KINDS and (
        conversations.recently_resolved(ctx.session, ctx.identity_id, _reopen_hours(ctx)) is not None
    )


def reopen_with_follow_up(ctx: HandlerContext) -> Reply | None:
    if conversations.reopen_for_follower(ctx.session, ctx.identity_id, _reopen_hours(ctx)) is None:
        return text_reply("default")
    _store(ctx)
    return text_reply("ticket_reopened", hours=_hours(ctx))


def _store(ctx: HandlerContext) -> conversations.Added | None:
    conversation = conversations.capturing_conversation(ctx.session, ctx.identity_id)
    if conversation is None:  # resolved between the check and now
        return None
    message = ctx.message
    return conversations.add_inbound(
        ctx.session,
        conversation,
        appid=message.appid,
        msg_id=message.msg_id,
        kind=message.msg_type,
        content=message.content or "",
        fields=message.fields,
    )


def register(router: Router) -> None:
    router.keyword("留言", priority=Priority.CONVERSATION_COMMAND)(leave_message)
    router.click(menu.LEAVE_MESSAGE, priority=Priority.CONVERSATION_COMMAND)(leave_message)
    router.keyword("结束", priority=Priority.CONVERSATION_COMMAND)(end_conversation)
    router.when(command_in_conversation, priority=Priority.FOLLOWER_COMMAND)(answer_command)
    router.when(in_open_conversation, priority=Priority.CAPTURE)(into_conversation)
    router.when(follow_up_after_resolve, priority=Priority.FOLLOW_UP)(reopen_with_follow_up)
