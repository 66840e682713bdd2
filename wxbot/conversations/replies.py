"""The agents' messages in a conversation: internal notes and replies, how a reply reaches the follower (a
customer-service message inside the reply window, else the fallback: a template or subscribe message saying a
reply is waiting) and what became of it. The window itself is wxbot.conversations.reply_window.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.config import Settings
from wxbot.conversations import agents, conversations, reply_window
from wxbot.errors import Conflict, Invalid, NotFound
from wxbot.models.conversations import Agent, Conversation, TicketMessage
from wxbot.models.outbox import Notification
from wxbot.push import enqueue as outbox
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue
from wxbot.push.explain import explain, explain_channels
from wxbot.push.planning import People, plan_channels
from wxbot.texts import N_
from wxbot.wechat.errors import (
    API_UNAUTHORIZED,
    CONTENT_TOO_LONG,
    OPENID_UNKNOWN,
    REFUSED,
    UNFOLLOWED,
    WINDOW_CLOSED,
    WINDOW_SPENT,
)

MAX_TEXT = 2000  # a reply or note; WeChat's customer-service text limit is about 2048 bytes


def add_note(
    session: Session, conversation: Conversation, agent: Agent, body: str, form_token: str
) -> TicketMessage:
    """An internal note: agents see it, nothing ever sends it."""
    message, created = _agent_message(session, conversation, agent, body, form_token, direction="note")
    if created:
        agents.audit_conversation(session, agent, "conversation.note", conversation, f"message:{message.id}")
    return message


def _agent_message(
    session: Session, conversation: Conversation, agent: Agent, body: str, form_token: str, *, direction: str
) -> tuple[TicketMessage, bool]:
    """The agent's message, stored once per form (token) however often the form is submitted."""
    body = body.strip()
    if not body:
        raise Invalid("empty_message", N_("the message is empty"))
    if len(body) > MAX_TEXT:
        raise Invalid("message_too_long", f"the message is longer than {MAX_TEXT} characters")
    key = f"form:{agent.id}:{form_token}"[:96] if form_token else None
    if key is not None:
        existing = session.scalar(select(TicketMessage).where(TicketMessage.dedupe_key == key))
        if existing is not None:
            return existing, False
    message = TicketMessage(
        conversation_id=conversation.id,
        direction=direction,
        kind="text",
        body=body,
        agent_id=agent.id,
        dedupe_key=key,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        # the same form submitted twice at once: the other submission stored it
        existing = session.scalar(select(TicketMessage).where(TicketMessage.dedupe_key == key))
        if existing is None:
            raise
        return existing, False
    return message, True


REPLY_TEMPLATE = "ticket_reply"  # [notify.templates.ticket_reply.<app>]: "a reply is waiting" (the fallback)
FALLBACK_CHANNELS = ("template", "subscribe")


class ReplyBlocked(Conflict):
    """A chat message cannot reach the follower now; the agent may send the fallback instead."""

    def __init__(self, problem: str) -> None:
        super().__init__("reply_blocked", problem)


def window_problem(session: Session, conversation: Conversation) -> str | None:
    """Why a customer-service message cannot go now, in plain words; None when it can. It goes through the
    door the user last wrote through (the official account or the mini program's customer service)."""
    identity = conversation.reply_identity
    if identity.kind == "official" and not identity.subscribed:
        return N_("The follower no longer follows the official account.")
    if reply_window.status(session, identity.id).open:
        return None
    if reply_window.unexpired(session, identity.id):
        return WINDOW_SPENT_TEXT
    return N_(
        "The 48-hour reply window is closed: WeChat allows no chat message until the follower writes again."
    )


WINDOW_SPENT_TEXT = N_(
    "The reply budget of this window is spent: WeChat allows no more chat messages until the follower writes again."
)


def fallback_problem(session: Session, settings: Settings, conversation: Conversation) -> str | None:
    """Why no fallback can reach this follower (no template configured, not following, no authorisation),
    per channel in plain words; None when one can. The sender's own planning decides, on a row that is never stored."""
    probe = Notification(
        purpose="ticket_reply",
        identity_id=conversation.identity_id,
        account_id=conversation.identity.account_id,
        content={"template": {"key": REPLY_TEMPLATE}, "subscribe": {"key": REPLY_TEMPLATE}},
        channels=",".join(FALLBACK_CHANNELS),
        ended_channels="",
        status="pending",
    )
    plan = plan_channels(session, settings, probe, People.load(session, [probe]), {})
    if plan.candidates:
        return None
    return explain_channels(plan.why_not)


def reply(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    body: str,
    form_token: str,
    *,
    fallback: bool,
    reader_link: str,
    settings: Settings,
    over_claim: bool = False,
) -> TicketMessage:
    """An agent's answer, queued on the outbox in this transaction.

    In the window it goes as a customer-service message; should WeChat refuse that (window closed, budget
    spent) the sender moves on to the fallback channels by itself. Outside the window the agent is refused
    (ReplyBlocked) unless they chose the fallback: a template or subscribe message saying a reply is waiting,
    with `reader_link`, where the follower reads the replies. On a conversation another agent claimed, only
    with `over_claim` (the agent was warned and chose to reply anyway).
    """
    if conversation.state == "resolved":
        raise Conflict("conversation_resolved", N_("the conversation is resolved; reopen it to reply"))
    if conversation.assignee_id not in (None, agent.id) and not over_claim:
        # another agent took it: a reply on top of theirs only when this agent says so
        raise Conflict("claimed_by_other", N_("Another agent has claimed this conversation."))
    if fallback:
        missing = fallback_problem(session, settings, conversation)
        if missing is not None:
            raise Conflict("no_fallback", missing)
    else:
        problem = window_problem(session, conversation)
        if problem is not None:
            raise ReplyBlocked(problem)
    conversations.lock(session, conversation)
    message, created = _agent_message(session, conversation, agent, body, form_token, direction="outbound")
    if not created:
        return message  # the same form again: already queued
    # the chat message takes its slot of the window now, in this transaction: a budget of five accepts five
    # replies however fast they are sent, the sixth is refused before anything is queued
    if not fallback and not reply_window.consume(session, conversation.reply_identity_id):
        raise ReplyBlocked(window_problem(session, conversation) or WINDOW_SPENT_TEXT)
    channels = FALLBACK_CHANNELS if fallback else ("custom", *FALLBACK_CHANNELS)
    # the template's fields pick from these ({conversation_id}, {replied_at}, {link}); no reply text in
    # them: WeChat cuts template fields to 20 characters, the link shows the whole answer
    data = {
        "conversation_id": str(conversation.id),
        "replied_at": clock.local_text(clock.now(), settings.app.timezone),
        "link": reader_link,
    }
    content = PushContent(
        text=None if fallback else message.body,
        template=TemplateContent(REPLY_TEMPLATE, data, url=reader_link),
        subscribe=SubscribeContent(REPLY_TEMPLATE, data),
    )
    door = conversation.reply_identity
    notification = enqueue(
        session,
        purpose="ticket_reply",
        identity_id=door.id,
        account_id=door.account_id or conversation.identity.account_id,
        content=content,
        channels=channels,
        dedupe_key=f"ticket_message:{message.id}",
        urgent=True,  # the follower is waiting for it: no quiet hours, no daily cap
        source_type="ticket_message",
        source_id=message.id,
    )
    notification.window_reserved = not fallback
    message.notification_id = notification.id
    message.delivery = "fallback" if fallback else "custom"
    message.outcome = "pending"  # the conversation moves on once WeChat took it (settle_outcomes)
    agents.audit_conversation(
        session, agent, "conversation.reply", conversation, f"message:{message.id} {message.delivery}"
    )
    return message


def resend(session: Session, conversation: Conversation, agent: Agent, message_id: int) -> None:
    """The agent sends again a reply whose delivery is unknown (WeChat did not answer; it may have arrived):
    queued now as a new attempt of the same outbox row."""
    message = next(
        (m for m in conversation.messages if m.id == message_id and m.direction == "outbound"), None
    )
    if message is None or message.notification_id is None:
        raise NotFound("message_not_found", N_("no such reply in this conversation"))
    notification = session.get(Notification, message.notification_id)
    if notification is None or not outbox.resend(session, notification):
        raise Conflict(
            "not_unknown", N_("this reply's delivery is not unknown (any more): nothing to resend")
        )
    agents.audit_conversation(session, agent, "conversation.resend", conversation, f"message:{message.id}")


@dataclass(frozen=True)
class Delivery:
    """What became of an agent's reply, from its outbox row: never shown as sent unless it was."""

    state: str  # sending | sent | fell_back | failed | unknown
    label: str
    detail: str = ""


FALLBACK_LABELS = {
    "template": N_("fell back: template message on the official account saying a reply is waiting"),
    "subscribe": N_("fell back: mini-program subscribe message saying a reply is waiting"),
}
PLAIN_ERRORS = {
    WINDOW_CLOSED: "the reply window had closed (or the follower unfollowed)",
    WINDOW_SPENT: "the window's message budget was used up",
    UNFOLLOWED: "the follower does not follow the official account",
    REFUSED: "the follower has no unused subscribe authorisation",
    OPENID_UNKNOWN: "WeChat does not know this follower",
    CONTENT_TOO_LONG: "the text is too long for WeChat",
    API_UNAUTHORIZED: "the account is not allowed to use this WeChat API",
}


def delivery(notification: Notification | None) -> Delivery:
    if notification is None:
        return Delivery("failed", N_("not queued"))
    n = notification
    if n.status in ("sent", "delivered"):
        if n.channel == "custom":
            return Delivery(
                "sent", N_("delivered in the chat") if n.status == "delivered" else N_("sent in the chat")
            )
        how = FALLBACK_LABELS.get(n.channel or "", n.channel or "")
        why = _ended_reasons(n)
        return Delivery("fell_back", how, f"chat message refused: {why}" if why else "")
    if n.status in ("pending", "sending", "held"):
        return Delivery("sending", N_("sending…"), explain(n) if n.reason else "")
    if n.status == "unknown":
        return Delivery("unknown", N_("delivery unknown"), explain(n))
    if n.status == "failed":
        code = f"WeChat error {n.errcode}: " if n.errcode else ""
        return Delivery("failed", N_("failed"), code + PLAIN_ERRORS.get(n.errcode or 0, explain(n)))
    # skipped / cancelled / superseded: nothing reached the follower
    why = _ended_reasons(n) or explain(n)
    return Delivery("failed", N_("not delivered"), why)


def _ended_reasons(n: Notification) -> str:
    parts = []
    for channel, code in n.ended().items():
        plain = PLAIN_ERRORS.get(int(code), "") if code.isdigit() else ""
        parts.append(f"{channel}: WeChat error {code}" + (f" ({plain})" if plain else ""))
    return "; ".join(parts)


def deliveries(session: Session, conversation: Conversation) -> dict[int, Delivery]:
    """message id -> delivery state, for the agent replies of the conversation."""
    ids = {m.notification_id: m.id for m in conversation.messages if m.direction == "outbound"}
    rows = {
        n.id: n
        for n in session.scalars(
            select(Notification)
            .where(Notification.id.in_([i for i in ids if i is not None]))
            .execution_options(populate_existing=True)
        )
    }
    return {message_id: delivery(rows.get(nid or -1)) for nid, message_id in ids.items()}


def window(session: Session, conversation: Conversation) -> reply_window.WindowStatus:
    """Can a customer-service message reach the follower now (through the door they last wrote through),
    until when, and how many are left."""
    return reply_window.status(session, conversation.reply_identity_id)


SETTLE_BATCH = 500
ANSWERED = ("sent", "delivered")
UNDELIVERED = ("failed", "skipped", "cancelled", "superseded")


def settle_outcomes(session: Session, limit: int = SETTLE_BATCH) -> int:
    """Move conversations on for the replies whose fate WeChat has decided. Only a reply WeChat took counts:
    the conversation's first response, and its turn passing to the follower (waiting, unless they wrote
    after it). A reply that ended undelivered (refused, no channel, a fallback with no template) leaves or
    puts the conversation back with the agents (open); the thread marks it. Returns the replies settled.
    The sender runs it after each round (jobs/sender.py); the caller commits."""
    rows = session.execute(
        select(TicketMessage, Notification.status, Notification.sent_at)
        .join(Notification, Notification.id == TicketMessage.notification_id)
        .where(TicketMessage.outcome == "pending", Notification.status.in_(ANSWERED + UNDELIVERED))
        .order_by(TicketMessage.id)
        .limit(limit)
    ).all()
    for message, status, sent_at in rows:
        conversation = message.conversation
        if status in ANSWERED:
            message.outcome = "answered"
            if conversation.first_response_at is None:
                conversation.first_response_at = sent_at or clock.now()
            follower_waiting_since = conversation.awaiting_since
            if conversation.state == "open" and (
                follower_waiting_since is None or follower_waiting_since <= message.created_at
            ):
                conversation.state, conversation.awaiting_since = "waiting", None
        else:
            message.outcome = "undelivered"
            if conversation.state == "waiting":
                conversation.state = "open"
            if conversation.state == "open" and conversation.awaiting_since is None:
                conversation.awaiting_since = message.created_at
    return len(rows)
