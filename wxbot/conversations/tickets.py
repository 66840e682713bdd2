"""留言: conversations between a follower and the customer-service agents.

The follower's side: 「留言」 opens a conversation (or continues the unresolved one), everything the follower
sends while it is open goes into it, 「结束」 ends their side. The agents' side: claim/assign, notes, replies,
resolve/reopen, service-level figures. Plain functions on a session; the caller commits.
"""

from __future__ import annotations

import json
import re
import statistics as stats
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from wxbot import clock
from wxbot.conversations import reply_window
from wxbot.models.conversations import INBOUND_KINDS, ROLES, Agent, CannedReply, Conversation, TicketMessage
from wxbot.models.identity import Identity
from wxbot.models.outbox import Notification
from wxbot.models.reply_window import ReplyWindow
from wxbot.passwords import hash_password, password_matches
from wxbot.privacy import audit, retention
from wxbot.privacy import registry as rights
from wxbot.privacy.pii import mask_numbers
from wxbot.push import notify
from wxbot.wechat.errors import (
    API_UNAUTHORIZED,
    CONTENT_TOO_LONG,
    OPENID_UNKNOWN,
    REFUSED,
    UNFOLLOWED,
    WINDOW_CLOSED,
    WINDOW_SPENT,
)

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
MAX_TEXT = 2000  # a reply or note; WeChat's customer-service text limit is about 2048 bytes
MAX_INBOUND_TEXT = 8000
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
MIN_PASSWORD = 10
CANNED_VARIABLES = ("agent", "conversation", "target_hours")
# the 48-hour window a follower's message opens (wechat-platform.md §5.1)
MESSAGE_WINDOW = timedelta(hours=48)
# compared against when the username is unknown, so a miss costs as long as a wrong password
_DUMMY_HASH = hash_password("not a real password")


class TicketError(ValueError):
    """A refused agent action; the message says why in plain words."""


# ---------------------------------------------------------------- agents


def create_agent(session: Session, *, username: str, password: str, role: str = "agent") -> Agent:
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise TicketError("username: 2-64 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise TicketError(f"role: one of {', '.join(ROLES)}")
    _check_password(password)
    if session.scalar(select(Agent.id).where(Agent.username == username)) is not None:
        raise TicketError(f"username {username!r} is taken")
    agent = Agent(username=username, password_hash=hash_password(password), role=role)
    session.add(agent)
    session.flush()
    return agent


def set_active(session: Session, username: str, active: bool, *, actor: str) -> tuple[Agent, int]:
    """Let an agent in again, or keep them out: a deactivated agent's console sessions end at their next
    request, they cannot log in, and the unresolved conversations assigned to them go back to the queue.
    Returns the agent and how many conversations were unassigned."""
    agent = session.scalar(select(Agent).where(Agent.username == username.strip().lower()))
    if agent is None:
        raise TicketError(f"no agent {username!r}")
    agent.active = active
    released = 0
    if not active:
        agent.session_generation += 1  # its sessions stay void when the agent is let in again
        released = session.execute(  # type: ignore[attr-defined]
            update(Conversation)
            .where(Conversation.assignee_id == agent.id, Conversation.open_identity_id.is_not(None))
            .values(assignee_id=None)
            .execution_options(synchronize_session=False)
        ).rowcount
    audit.log(session, actor=actor, action="agent.activate" if active else "agent.deactivate",
              subject_type="agent", subject_id=agent.id, detail=f"unassigned {released}" if released else "")  # fmt: skip
    return agent, released


def set_password(session: Session, agent: Agent, password: str) -> None:
    _check_password(password)
    agent.password_hash = hash_password(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 256:
        raise TicketError(f"password: {MIN_PASSWORD} to 256 characters")


def authenticate(session: Session, username: str, password: str) -> Agent | None:
    agent = session.scalar(select(Agent).where(Agent.username == username.strip().lower()))
    if agent is None or not agent.active:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(agent.password_hash, password):
        return None
    agent.last_login_at = clock.now()
    return agent


def actor(agent: Agent) -> str:
    """The audit log's name for an agent: role and id, never the username."""
    return f"{agent.role}:{agent.id}"


def _audit(session: Session, agent: Agent, action: str, conversation: Conversation, detail: str = "") -> None:
    audit.log(
        session,
        actor=actor(agent),
        action=action,
        subject_type="conversation",
        subject_id=conversation.id,
        detail=detail,
    )


# ---------------------------------------------------------------- the follower's side


def open_for_follower(session: Session, identity_id: int) -> tuple[Conversation, bool]:
    """「留言」: the follower's unresolved conversation (their side reopened), or a new one. (conv, created)"""
    conversation = _unresolved(session, identity_id)
    if conversation is not None:
        conversation.follower_ended_at = None
        return conversation, False
    now = clock.now()
    conversation = Conversation(
        identity_id=identity_id, open_identity_id=identity_id, state="open", created_at=now
    )
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        # the same 「留言」 delivered twice at once: the other copy created it
        existing = _unresolved(session, identity_id)
        if existing is None:
            raise
        existing.follower_ended_at = None
        return existing, False
    return conversation, True


def _capturing(identity_id: Any) -> tuple[ColumnElement[bool], ...]:
    """The rule for the conversation a follower's messages go into: unresolved and not ended by them."""
    return Conversation.open_identity_id == identity_id, Conversation.follower_ended_at.is_(None)


def capturing_conversation(session: Session, identity_id: int) -> Conversation | None:
    return session.scalar(select(Conversation).where(*_capturing(identity_id)))


# Built once and run on the connection: every message a follower writes asks it, and needs only the answer.
_IS_CAPTURING = select(Conversation.id).where(*_capturing(bindparam("identity_id"))).limit(1)


def is_capturing(session: Session, identity_id: int) -> bool:
    """Whether capturing_conversation would find one, without loading it."""
    return session.connection().execute(_IS_CAPTURING, {"identity_id": identity_id}).first() is not None


def end_for_follower(session: Session, identity_id: int) -> Conversation | None:
    """「结束」: the follower's messages stop going into the conversation; the agents still see it."""
    conversation = _unresolved(session, identity_id)
    if conversation is not None and conversation.follower_ended_at is None:
        conversation.follower_ended_at = clock.now()
    return conversation


def _unresolved(session: Session, identity_id: int) -> Conversation | None:
    return session.scalar(select(Conversation).where(Conversation.open_identity_id == identity_id))


@dataclass(frozen=True)
class Added:
    message: TicketMessage
    first: bool  # the conversation's first follower message: it gets the acknowledgement


def add_inbound(
    session: Session,
    conversation: Conversation,
    *,
    appid: str,
    msg_id: str | None,
    kind: str,
    content: str = "",
    fields: dict[str, Any] | None = None,
) -> Added | None:
    """Store a follower's message in the conversation; None when this delivery is already stored."""
    if kind not in INBOUND_KINDS:
        raise TicketError(f"unsupported message type {kind!r}")
    fields = fields or {}
    _lock(session, conversation)
    message = TicketMessage(
        conversation_id=conversation.id,
        direction="inbound",
        kind=kind,
        dedupe_key=f"wx:{appid}:{msg_id}" if msg_id else None,
        # Phone and ID numbers the follower types are kept masked, as in the inbound log (privacy policy).
        body=mask_numbers((content or "")[:MAX_INBOUND_TEXT]),
        details=_details(kind, fields),
        created_at=clock.now(),
    )
    if kind in MEDIA_KINDS and fields.get("MediaId"):
        message.media_id = str(fields["MediaId"])[:128]
        message.media_status = "pending"
    if kind == "voice" and fields.get("Recognition"):
        message.body = mask_numbers(str(fields["Recognition"])[:MAX_INBOUND_TEXT])
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None  # WeChat retried a delivery we already stored
    now = message.created_at
    values: dict[str, Any] = {"last_user_message_at": now, "state": "open", "updated_at": now}
    session.execute(update(Conversation).where(Conversation.id == conversation.id).values(values))
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.first_user_message_at.is_(None))
        .values(first_user_message_at=now)
    )
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.awaiting_since.is_(None))
        .values(awaiting_since=now)
    )
    # only one delivery can set it, however many arrive at once
    first = (
        _changed(
            session,
            update(Conversation)
            .where(Conversation.id == conversation.id, Conversation.acknowledged_at.is_(None))
            .values(acknowledged_at=now),
        )
        == 1
    )
    session.refresh(conversation)
    return Added(message, first)


def _lock(session: Session, conversation: Conversation) -> None:
    """Take the conversation's row lock before adding to it. Inserting a message takes a shared lock on the
    conversation (the foreign key) and updating it then needs an exclusive one: two writers doing both at
    once deadlock on MySQL/MariaDB unless the exclusive lock comes first. (SQLite has one writer anyway.)"""
    session.execute(select(Conversation.id).where(Conversation.id == conversation.id).with_for_update())


def _changed(session: Session, statement: Any) -> int:
    """Rows an UPDATE changed: the compare-and-set primitive behind claims and acknowledgements."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def _details(kind: str, fields: dict[str, Any]) -> str | None:
    if kind == "location":
        keys = {"latitude": "Location_X", "longitude": "Location_Y", "scale": "Scale", "label": "Label"}
    elif kind == "link":
        keys = {"title": "Title", "description": "Description", "url": "Url"}
    else:
        return None
    return json.dumps({k: str(fields.get(v, ""))[:1000] for k, v in keys.items()}, ensure_ascii=False)


def details(message: TicketMessage) -> dict[str, str]:
    return json.loads(message.details) if message.details else {}


# ---------------------------------------------------------------- the agents' side


def get(session: Session, conversation_id: int) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def claim(session: Session, conversation: Conversation, agent: Agent) -> None:
    """Take an unassigned conversation; refused when another agent got there first."""
    taken = _changed(
        session,
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.assignee_id.is_(None))
        .values(assignee_id=agent.id, updated_at=clock.now()),
    )
    session.refresh(conversation)
    if not taken and conversation.assignee_id != agent.id:
        raise TicketError("another agent has already claimed this conversation")
    _audit(session, agent, "conversation.claim", conversation)


def assign(session: Session, conversation: Conversation, agent: Agent, assignee_id: int | None) -> None:
    if assignee_id is not None:
        assignee = session.get(Agent, assignee_id)
        if assignee is None or not assignee.active:
            raise TicketError("no such active agent")
    conversation.assignee_id = assignee_id
    _audit(
        session,
        agent,
        "conversation.assign",
        conversation,
        f"to agent:{assignee_id}" if assignee_id else "unassigned",
    )


def resolve(session: Session, conversation: Conversation, agent: Agent) -> None:
    if conversation.state == "resolved":
        raise TicketError("the conversation is already resolved")
    conversation.state = "resolved"
    conversation.open_identity_id = None
    conversation.resolved_at = clock.now()
    conversation.awaiting_since = None
    _audit(session, agent, "conversation.resolve", conversation)


def reopen(session: Session, conversation: Conversation, agent: Agent) -> None:
    if conversation.state != "resolved":
        raise TicketError("only a resolved conversation can be reopened")
    newer = TicketError("the follower has a newer open conversation; continue there")
    if _unresolved(session, conversation.identity_id) is not None:
        raise newer
    now = clock.now()
    try:
        with session.begin_nested():
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(
                    state="open",
                    resolved_at=None,
                    open_identity_id=conversation.identity_id,
                    # the follower ended their side by being resolved: their messages wait for a new 「留言」
                    follower_ended_at=func.coalesce(Conversation.follower_ended_at, now),
                    updated_at=now,
                )
            )
    except IntegrityError:
        raise newer from None  # the follower opened one at this very moment
    session.refresh(conversation)
    _audit(session, agent, "conversation.reopen", conversation)


def add_note(
    session: Session, conversation: Conversation, agent: Agent, body: str, form_token: str
) -> TicketMessage:
    """An internal note: agents see it, nothing ever sends it."""
    message, created = _agent_message(session, conversation, agent, body, form_token, direction="note")
    if created:
        _audit(session, agent, "conversation.note", conversation, f"message:{message.id}")
    return message


def _agent_message(
    session: Session, conversation: Conversation, agent: Agent, body: str, form_token: str, *, direction: str
) -> tuple[TicketMessage, bool]:
    """The agent's message, stored once per form (token) however often the form is submitted."""
    body = body.strip()
    if not body:
        raise TicketError("the message is empty")
    if len(body) > MAX_TEXT:
        raise TicketError(f"the message is longer than {MAX_TEXT} characters")
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


class ReplyBlocked(TicketError):
    """A chat message cannot reach the follower now; the agent may send the fallback instead."""


def window_problem(session: Session, conversation: Conversation) -> str | None:
    """Why a customer-service message cannot go now, in plain words; None when it can."""
    identity = conversation.identity
    if not identity.subscribed:
        return "The follower no longer follows the official account."
    if reply_window.status(session, conversation.identity_id).open:
        return None
    unexpired = session.scalar(
        select(func.count())
        .select_from(ReplyWindow)
        .where(ReplyWindow.identity_id == conversation.identity_id, ReplyWindow.expires_at > clock.now())
    )
    if unexpired:
        return "The reply budget of this window is spent: WeChat allows no more chat messages until the follower writes again."
    return (
        "The 48-hour reply window is closed: WeChat allows no chat message until the follower writes again."
    )


def reply(
    session: Session,
    conversation: Conversation,
    agent: Agent,
    body: str,
    form_token: str,
    *,
    fallback: bool,
    reader_link: str,
    timezone: str = "Asia/Shanghai",
) -> TicketMessage:
    """An agent's answer, queued on the outbox in this transaction.

    In the window it goes as a customer-service message; should WeChat refuse that (window closed, budget
    spent) the sender moves on to the fallback channels by itself. Outside the window the agent is refused
    (ReplyBlocked) unless they chose the fallback: a template or subscribe message saying a reply is waiting,
    with `reader_link`, where the follower reads the replies.
    """
    if conversation.state == "resolved":
        raise TicketError("the conversation is resolved; reopen it to reply")
    if not fallback:
        problem = window_problem(session, conversation)
        if problem is not None:
            raise ReplyBlocked(problem)
    _lock(session, conversation)
    message, created = _agent_message(session, conversation, agent, body, form_token, direction="outbound")
    if not created:
        return message  # the same form again: already queued
    channels = FALLBACK_CHANNELS if fallback else ("custom", *FALLBACK_CHANNELS)
    # the template's fields pick from these ({conversation_id}, {replied_at}, {link}); no reply text in
    # them: WeChat cuts template fields to 20 characters, the link shows the whole answer
    data = {
        "conversation_id": str(conversation.id),
        "replied_at": clock.local_text(clock.now(), timezone),
        "link": reader_link,
    }
    content: dict[str, Any] = {
        "template": {"key": REPLY_TEMPLATE, "data": data, "url": reader_link},
        "subscribe": {"key": REPLY_TEMPLATE, "data": data},
    }
    if not fallback:
        content["text"] = message.body
    notification = notify.enqueue(
        session,
        purpose="ticket_reply",
        identity_id=conversation.identity_id,
        account_id=conversation.identity.account_id,
        content=content,
        channels=channels,
        dedupe_key=f"ticket_message:{message.id}",
        urgent=True,  # the follower is waiting for it: no quiet hours, no daily cap
        source_type="ticket_message",
        source_id=message.id,
    )
    message.notification_id = notification.id
    message.delivery = "fallback" if fallback else "custom"
    now = clock.now()
    if conversation.first_response_at is None:
        conversation.first_response_at = now
    conversation.awaiting_since = None
    conversation.state = "waiting"
    _audit(session, agent, "conversation.reply", conversation, f"message:{message.id} {message.delivery}")
    return message


@dataclass(frozen=True)
class Delivery:
    """What became of an agent's reply, from its outbox row: never shown as sent unless it was."""

    state: str  # sending | sent | fell_back | failed
    label: str
    detail: str = ""


FALLBACK_LABELS = {
    "template": "template message on the official account saying a reply is waiting",
    "subscribe": "mini-program subscribe message saying a reply is waiting",
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
        return Delivery("failed", "not queued")
    n = notification
    if n.status in ("sent", "delivered"):
        if n.channel == "custom":
            return Delivery(
                "sent", "delivered in the chat" if n.status == "delivered" else "sent in the chat"
            )
        how = FALLBACK_LABELS.get(n.channel or "", n.channel or "")
        why = _ended_reasons(n)
        return Delivery("fell_back", f"fell back: {how}", f"chat message refused: {why}" if why else "")
    if n.status in ("pending", "sending", "held"):
        return Delivery("sending", "sending…", notify.explain(n) if n.reason else "")
    if n.status == "failed":
        code = f"WeChat error {n.errcode}: " if n.errcode else ""
        return Delivery("failed", "failed", code + PLAIN_ERRORS.get(n.errcode or 0, notify.explain(n)))
    # skipped / cancelled / superseded: nothing reached the follower
    why = _ended_reasons(n) or notify.explain(n)
    return Delivery("failed", "not delivered", why)


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


def record_view(session: Session, conversation: Conversation, agent: Agent) -> None:
    _audit(session, agent, "conversation.view", conversation)


def record_reveal(session: Session, conversation: Conversation, agent: Agent) -> None:
    if agent.role != "admin":
        raise TicketError("only an admin may reveal a phone number")
    audit.log(
        session,
        actor=actor(agent),
        action="phone.reveal",
        subject_type="identity",
        subject_id=conversation.identity_id,
        detail=f"conversation:{conversation.id}",
    )


def window(session: Session, conversation: Conversation) -> reply_window.WindowStatus:
    """Can a customer-service message reach the follower now, until when, and how many are left."""
    return reply_window.status(session, conversation.identity_id)


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    window: reply_window.WindowStatus
    overdue: bool
    last_message: TicketMessage | None

    @property
    def time_left(self) -> timedelta | None:
        expires = self.window.expires_at
        return expires - clock.now() if self.window.open and expires is not None else None


INBOX_LIMIT = 200


def inbox(session: Session, *, state: str, scope: str, agent_id: int, target: timedelta) -> list[InboxRow]:
    """Conversations in `state` (all, mine or unassigned), the most urgent first: the reply window that
    closes soonest, then those whose window has closed, the longest-waiting first."""
    query = select(Conversation).where(Conversation.state == state)
    if scope == "mine":
        query = query.where(Conversation.assignee_id == agent_id)
    elif scope == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    if state == "resolved":
        query = query.order_by(Conversation.resolved_at.desc())
    else:
        query = query.order_by(
            Conversation.awaiting_since.is_(None), Conversation.awaiting_since, Conversation.id
        )
    conversations = list(session.scalars(query.limit(INBOX_LIMIT)))
    last = _last_messages(session, [c.id for c in conversations])
    now = clock.now()
    rows = [
        InboxRow(c, window(session, c), is_overdue(c, target, now), last.get(c.id)) for c in conversations
    ]
    if state != "resolved":
        # stable sort: ties (closed windows) keep the longest-waiting-first order of the query
        rows.sort(key=lambda r: (not r.window.open, r.window.expires_at or now))
    return rows


def _last_messages(session: Session, conversation_ids: list[int]) -> dict[int, TicketMessage]:
    if not conversation_ids:
        return {}
    newest = (
        select(func.max(TicketMessage.id))
        .where(TicketMessage.conversation_id.in_(conversation_ids), TicketMessage.direction == "inbound")
        .group_by(TicketMessage.conversation_id)
    )
    messages = session.scalars(select(TicketMessage).where(TicketMessage.id.in_(newest)))
    return {m.conversation_id: m for m in messages}


# ---------------------------------------------------------------- media (jobs/media.py fetches them)


@dataclass(frozen=True)
class PendingMedia:
    message_id: int
    conversation_id: int
    app_name: str
    media_id: str
    attempts: int


def pending_media(session: Session, limit: int) -> list[PendingMedia]:
    rows = session.execute(
        select(TicketMessage, Identity.app_name)
        .join(Conversation, Conversation.id == TicketMessage.conversation_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .where(TicketMessage.media_status == "pending")
        .order_by(TicketMessage.id)
        .limit(limit)
    ).all()
    return [
        PendingMedia(m.id, m.conversation_id, app_name, m.media_id or "", m.media_attempts)
        for m, app_name in rows
    ]


def media_stored(session: Session, message_id: int, path: str, content_type: str) -> None:
    message = session.get(TicketMessage, message_id)
    if message is not None:  # erased meanwhile: the sweep removes the file
        message.media_status, message.media_path, message.media_type = "stored", path, content_type[:64]
        message.media_attempts += 1
        message.media_error = None


def media_failed(session: Session, message_id: int, reason: str, *, final: bool) -> None:
    message = session.get(TicketMessage, message_id)
    if message is not None:
        message.media_attempts += 1
        message.media_error = reason[:255]
        if final:
            message.media_status = "failed"


def stored_media_paths(session: Session) -> set[str]:
    paths = session.scalars(select(TicketMessage.media_path).where(TicketMessage.media_path.is_not(None)))
    return {p for p in paths if p}


# ---------------------------------------------------------------- canned replies


def render_canned(body: str, **variables: str) -> str:
    return string.Template(body).safe_substitute({k: variables.get(k, "") for k in CANNED_VARIABLES})


def check_canned(title: str, body: str) -> tuple[str, str]:
    """A canned reply's title and text, trimmed, or TicketError saying what is wrong."""
    title, body = title.strip(), body.strip()
    if not title or len(title) > 64:
        raise TicketError("title: 1 to 64 characters")
    if not body or len(body) > MAX_TEXT:
        raise TicketError(f"text: 1 to {MAX_TEXT} characters")
    used: set[str] = set()
    for match in string.Template.pattern.finditer(body):
        if match.group("invalid") is not None:
            raise TicketError("text: a '$' must start a variable; write $$ for a dollar sign")
        name = match.group("named") or match.group("braced")
        if name:
            used.add(name)
    unknown = sorted(used - set(CANNED_VARIABLES))
    if unknown:
        known = ", ".join(f"${v}" for v in CANNED_VARIABLES)
        raise TicketError(f"unknown variable ${unknown[0]}; known: {known}")
    return title, body


def save_canned(session: Session, *, title: str, body: str, canned_id: int | None = None) -> CannedReply:
    title, body = check_canned(title, body)
    canned = session.get(CannedReply, canned_id) if canned_id else CannedReply()
    if canned is None:
        raise TicketError("no such canned reply")
    clash = session.scalar(select(CannedReply.id).where(CannedReply.title == title))
    if clash is not None and clash != canned.id:
        raise TicketError(f"a canned reply titled {title!r} exists")
    canned.title, canned.body = title, body
    session.add(canned)
    session.flush()
    return canned


def canned_replies(session: Session) -> list[CannedReply]:
    return list(session.scalars(select(CannedReply).order_by(CannedReply.title)))


# ---------------------------------------------------------------- service level


def is_overdue(conversation: Conversation, target: timedelta, now: datetime | None = None) -> bool:
    since = conversation.awaiting_since
    return conversation.state != "resolved" and since is not None and (now or clock.now()) - since > target


def first_response_time(conversation: Conversation) -> timedelta | None:
    if conversation.first_response_at is None or conversation.first_user_message_at is None:
        return None
    return conversation.first_response_at - conversation.first_user_message_at


@dataclass(frozen=True)
class Statistics:
    open: int
    waiting: int
    overdue: int
    median_first_response: timedelta | None
    answered: int
    window_missed: int  # first answer after the 48-hour window closed, or none while it has closed
    days: int


def statistics(session: Session, target: timedelta, days: int = 30) -> Statistics:
    now = clock.now()
    since = now - timedelta(days=days)
    counts = dict(
        session.execute(
            select(Conversation.state, func.count())
            .where(Conversation.state != "resolved")
            .group_by(Conversation.state)
        ).all()
    )
    overdue = session.scalar(
        select(func.count()).where(
            Conversation.state != "resolved", Conversation.awaiting_since < now - target
        )
    )
    rows = session.execute(
        select(Conversation.first_user_message_at, Conversation.first_response_at).where(
            Conversation.first_user_message_at >= since
        )
    ).all()
    answered = [
        r.first_response_at - r.first_user_message_at for r in rows if r.first_response_at is not None
    ]
    missed = sum(1 for r in rows if (r.first_response_at or now) - r.first_user_message_at > MESSAGE_WINDOW)
    return Statistics(
        open=counts.get("open", 0),
        waiting=counts.get("waiting", 0),
        overdue=overdue or 0,
        median_first_response=stats.median(answered) if answered else None,
        answered=len(answered),
        window_missed=missed,
        days=days,
    )


# ---------------------------------------------------------------- the users' rights


def _conversations_of(session: Session, account_id: int) -> list[Conversation]:
    return list(
        session.scalars(
            select(Conversation)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Identity.account_id == account_id)
            .order_by(Conversation.id)
        )
    )


def _conversations_of_identities(session: Session, identity_ids: list[int]) -> list[Conversation]:
    return list(
        session.scalars(
            select(Conversation).where(Conversation.identity_id.in_(identity_ids)).order_by(Conversation.id)
        )
    )


def export_account(session: Session, account_id: int) -> list[dict[str, Any]]:
    """The follower's 留言 conversations: their messages and the agents' replies (never internal notes)."""
    return _describe(_conversations_of(session, account_id))


def export_identities(session: Session, identity_ids: list[int]) -> list[dict[str, Any]]:
    return _describe(_conversations_of_identities(session, identity_ids))


def _describe(conversations: list[Conversation]) -> list[dict[str, Any]]:
    return [
        {
            "opened_at": c.created_at.isoformat(),
            "state": c.state,
            "messages": [
                {
                    "from": "you" if m.direction == "inbound" else "customer service",
                    "type": m.kind,
                    "text": m.body,
                    "details": details(m),
                    "at": m.created_at.isoformat(),
                }
                for m in c.messages
                if m.direction != "note"
            ],
        }
        for c in conversations
    ]


def erase_account(session: Session, account_id: int) -> dict[str, int]:
    """Delete the follower's conversations with every message (stored media files go with the next sweep)."""
    return _delete(session, _conversations_of(session, account_id))


def erase_identities(session: Session, identity_ids: list[int]) -> dict[str, int]:
    return _delete(session, _conversations_of_identities(session, identity_ids))


def delete_conversations(session: Session, account_id: int) -> int:
    """The user's own "delete my 留言 conversations"."""
    return erase_account(session, account_id)["conversations"]


def delete_conversations_of_identities(session: Session, identity_ids: list[int]) -> int:
    """The same for a person who never linked an account."""
    return erase_identities(session, identity_ids)["conversations"]


def forget_follower(session: Session, identity_id: int) -> dict[str, int]:
    """An unsubscribe: the follower's conversations go (WeChat asks for the data of who leaves to be deleted)."""
    return _delete(
        session, list(session.scalars(select(Conversation).where(Conversation.identity_id == identity_id)))
    )


def _delete(session: Session, conversations: list[Conversation]) -> dict[str, int]:
    messages = sum(len(c.messages) for c in conversations)
    for conversation in conversations:
        session.delete(conversation)
    session.flush()
    return {"conversations": len(conversations), "messages": messages}


def purge_resolved(session: Session, cutoff: datetime) -> retention.Purged:
    """Conversations resolved before `cutoff`, with their messages."""
    old = list(session.scalars(select(Conversation).where(Conversation.resolved_at < cutoff)))
    return retention.Purged(deleted=_delete(session, old)["conversations"])


PERSONAL_DATA = rights.DataDeclaration(
    "tickets",
    export_account,
    erase_account,
    label="留言",
    tables=("conversations", "ticket_messages"),
    deletions={"conversations": delete_conversations},
    identity_deletions={"conversations": delete_conversations_of_identities},
    forget_follower=forget_follower,
    export_identities=export_identities,
    erase_identities=erase_identities,
    retention=(
        retention.RetentionRule(
            "resolved_conversations",
            purge_resolved,
            "留言 conversations with their messages, from resolution",
        ),
    ),
)
