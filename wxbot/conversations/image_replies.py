"""An agent's image reply: a customer-service image message through the door the user last wrote through (the
official account or the mini program's customer service), with the same window, budget and refusals as a
text reply (wxbot.conversations.replies); should WeChat refuse it, the sender falls back to the message
saying a reply is waiting, like a text reply.

The edge uploads the image to WeChat first (a temporary media_id, kept by WeChat for 3 days, far longer than
a reply waits in the outbox); here the reply is stored with its image (in the database, wxbot.conversations.media,
for the console on every host) and queued.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.conversations import agents, conversations, media, replies, reply_window
from wxbot.errors import Conflict
from wxbot.models.conversations import Agent, Conversation, TicketMessage
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue
from wxbot.texts import N_

IMAGE_BODY = "[图片]"  # what the reply reader and the inbox show for it


def check_can_send(session: Session, conversation: Conversation) -> None:
    """Before the upload: refused (ReplyBlocked and the reason) unless a chat message can go now."""
    if conversation.state == "resolved":
        raise Conflict("conversation_resolved", N_("the conversation is resolved; reopen it to reply"))
    problem = replies.window_problem(session, conversation)
    if problem is not None:
        raise replies.ReplyBlocked(problem)


def reply_image(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    *,
    media_id: str,
    content: bytes,
    content_type: str,
    form_token: str,
    reader_link: str,
    timezone: str = "Asia/Shanghai",
) -> TicketMessage:
    """The image reply, queued on the outbox in this transaction (once per form)."""
    check_can_send(session, conversation)
    conversations.lock(session, conversation)
    message, created = replies._agent_message(
        session, conversation, agent, IMAGE_BODY, form_token, direction="outbound"
    )
    if not created:
        return message  # the same form again: already queued
    # the image takes its slot of the window now, as a text reply does (replies.reply)
    if not reply_window.consume(session, conversation.reply_identity_id):
        raise replies.ReplyBlocked(replies.window_problem(session, conversation) or replies.WINDOW_SPENT_TEXT)
    message.kind = "image"
    media.keep(session, message, content, content_type)
    data = {
        "conversation_id": str(conversation.id),
        "replied_at": clock.local_text(clock.now(), timezone),
        "link": reader_link,
    }
    door = conversation.reply_identity
    notification = enqueue(
        session,
        purpose="ticket_reply",
        identity_id=door.id,
        account_id=door.account_id or conversation.identity.account_id,
        content=PushContent(
            image=media_id,
            template=TemplateContent(replies.REPLY_TEMPLATE, data, url=reader_link),
            subscribe=SubscribeContent(replies.REPLY_TEMPLATE, data),
        ),
        channels=("custom", *replies.FALLBACK_CHANNELS),
        dedupe_key=f"ticket_message:{message.id}",
        urgent=True,
        source_type="ticket_message",
        source_id=message.id,
    )
    notification.window_reserved = True
    message.notification_id, message.delivery = notification.id, "custom"
    message.outcome = "pending"  # the conversation moves on once WeChat took it (replies.settle_outcomes)
    agents.audit_conversation(
        session, agent, "conversation.reply", conversation, f"message:{message.id} image"
    )
    return message
