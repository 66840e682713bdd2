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

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wxbot import audit, clock, rights
from wxbot.models.identity import Identity
from wxbot.models.tickets import INBOUND_KINDS, ROLES, Agent, CannedReply, Conversation, TicketMessage

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
MAX_TEXT = 2000  # a reply or note; WeChat's customer-service text limit is about 2048 bytes
MAX_INBOUND_TEXT = 8000
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
MIN_PASSWORD = 10
CANNED_VARIABLES = ("agent", "conversation", "target_hours")
# the 48-hour window a follower's message opens (wechat-platform.md §5.1)
MESSAGE_WINDOW = timedelta(hours=48)
# compared against when the username is unknown, so a miss costs as long as a wrong password
_DUMMY_HASH = generate_password_hash("not a real password", method="scrypt")


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
    agent = Agent(
        username=username, password_hash=generate_password_hash(password, method="scrypt"), role=role
    )
    session.add(agent)
    session.flush()
    return agent


def set_password(session: Session, agent: Agent, password: str) -> None:
    _check_password(password)
    agent.password_hash = generate_password_hash(password, method="scrypt")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 256:
        raise TicketError(f"password: {MIN_PASSWORD} to 256 characters")


def authenticate(session: Session, username: str, password: str) -> Agent | None:
    agent = session.scalar(select(Agent).where(Agent.username == username.strip().lower()))
    if agent is None or not agent.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(agent.password_hash, password):
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


def capturing_conversation(session: Session, identity_id: int) -> Conversation | None:
    """The conversation the follower's messages go into: unresolved and not ended by them."""
    conversation = _unresolved(session, identity_id)
    if conversation is None or conversation.follower_ended_at is not None:
        return None
    return conversation


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
    message = TicketMessage(
        conversation_id=conversation.id,
        direction="inbound",
        kind=kind,
        dedupe_key=f"wx:{appid}:{msg_id}" if msg_id else None,
        body=(content or "")[:MAX_INBOUND_TEXT],
        details=_details(kind, fields),
        created_at=clock.now(),
    )
    if kind in MEDIA_KINDS and fields.get("MediaId"):
        message.media_id = str(fields["MediaId"])[:128]
        message.media_status = "pending"
    if kind == "voice" and fields.get("Recognition"):
        message.body = str(fields["Recognition"])[:MAX_INBOUND_TEXT]
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
    message = _agent_message(session, conversation, agent, body, form_token, direction="note")
    _audit(session, agent, "conversation.note", conversation, f"message:{message.id}")
    return message


def _agent_message(
    session: Session, conversation: Conversation, agent: Agent, body: str, form_token: str, *, direction: str
) -> TicketMessage:
    body = body.strip()
    if not body:
        raise TicketError("the message is empty")
    if len(body) > MAX_TEXT:
        raise TicketError(f"the message is longer than {MAX_TEXT} characters")
    key = f"form:{agent.id}:{form_token}"[:96] if form_token else None
    if key is not None:
        existing = session.scalar(select(TicketMessage).where(TicketMessage.dedupe_key == key))
        if existing is not None:
            return existing
    message = TicketMessage(
        conversation_id=conversation.id,
        direction=direction,
        kind="text",
        body=body,
        agent_id=agent.id,
        dedupe_key=key,
        created_at=clock.now(),
    )
    session.add(message)
    session.flush()
    return message


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


# ---------------------------------------------------------------- canned replies


def render_canned(body: str, **variables: str) -> str:
    return string.Template(body).safe_substitute({k: variables.get(k, "") for k in CANNED_VARIABLES})


def save_canned(session: Session, *, title: str, body: str, canned_id: int | None = None) -> CannedReply:
    title, body = title.strip(), body.strip()
    if not title or len(title) > 64:
        raise TicketError("title: 1 to 64 characters")
    if not body or len(body) > MAX_TEXT:
        raise TicketError(f"text: 1 to {MAX_TEXT} characters")
    try:
        used = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(body)}
    except ValueError as exc:
        raise TicketError("text: a '$' must start a variable; write $$ for a dollar sign") from exc
    unknown = sorted(u for u in used - set(CANNED_VARIABLES) if u)
    if unknown:
        known = ", ".join(f"${v}" for v in CANNED_VARIABLES)
        raise TicketError(f"unknown variable ${unknown[0]}; known: {known}")
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


def export_account(session: Session, account_id: int) -> list[dict[str, Any]]:
    """The follower's 留言 conversations: their messages and the agents' replies (never internal notes)."""
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
        for c in _conversations_of(session, account_id)
    ]


def erase_account(session: Session, account_id: int) -> dict[str, int]:
    """Delete the follower's conversations with every message (stored media files go with the next sweep)."""
    conversations = _conversations_of(session, account_id)
    messages = sum(len(c.messages) for c in conversations)
    for conversation in conversations:
        session.delete(conversation)
    session.flush()
    return {"conversations": len(conversations), "messages": messages}


rights.register("tickets", export_account, erase_account)
