"""留言 conversations: the follower's side and the agents' side.

The follower's side: 「留言」 opens a conversation (or continues the unresolved one), everything the follower
sends while it is open goes into it (add_inbound), 「结束」 ends their side. The agents' side: claim/assign,
resolve/reopen, what they viewed or revealed. Plain functions on a session; the caller commits. Replies and
notes are in wxbot.conversations.replies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from wxbot import clock
from wxbot.conversations import agents
from wxbot.conversations.media import MEDIA_KINDS
from wxbot.errors import Conflict, Invalid, NotFound, Refused
from wxbot.models.conversations import INBOUND_KINDS, MINIPROGRAM_KINDS, Agent, Conversation, TicketMessage
from wxbot.privacy import audit
from wxbot.privacy.pii import mask_numbers
from wxbot.texts import N_

MAX_INBOUND_TEXT = 8000


# ---------------------------------------------------------------- the follower's side


def open_for_follower(session: Session, identity_id: int) -> tuple[Conversation, bool]:
    """「留言」: the follower's unresolved conversation (their side reopened), or a new one. (conv, created)"""
    known_state(session, None)
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
# session.info: what a statement of this transaction read of the follower (known_state)
_KNOWN = "wxbot.conversations.known"


@dataclass(frozen=True)
class Known:
    identity_id: int
    capturing: bool  # capturing_exists
    last_resolved_at: datetime | None  # last_resolved_at


def capturing_exists(identity_id: Any) -> ColumnElement[bool]:
    """is_capturing as an expression, for a statement that reads it with other things (the callback's)."""
    return exists().where(*_capturing(identity_id))


def last_resolved_at(identity_id: Any) -> ScalarSelect[Any]:
    """When the follower's last conversation was resolved, as an expression read with other things (the
    callback's): recently_resolved needs no statement of its own when it is older than the reopen window."""
    return (
        select(func.max(Conversation.resolved_at))
        .where(Conversation.identity_id == identity_id, Conversation.state == "resolved")
        .scalar_subquery()
    )


def known_state(session: Session, known: Known | None) -> None:
    """What a statement of this session's transaction read (capturing_exists, last_resolved_at) for the
    follower, after taking their identity's lock: is_capturing and recently_resolved answer from it without
    asking again, until this session opens or ends their conversation. None forgets it."""
    if known is None:
        session.info.pop(_KNOWN, None)
    else:
        session.info[_KNOWN] = known


def _known(session: Session, identity_id: int) -> Known | None:
    known = session.info.get(_KNOWN)
    return known if isinstance(known, Known) and known.identity_id == identity_id else None


def is_capturing(session: Session, identity_id: int) -> bool:
    """Whether capturing_conversation would find one, without loading it."""
    known = _known(session, identity_id)
    if known is not None:
        return known.capturing
    return session.connection().execute(_IS_CAPTURING, {"identity_id": identity_id}).first() is not None


def end_for_follower(session: Session, identity_id: int) -> Conversation | None:
    """「结束」: the follower's messages stop going into the conversation; the agents still see it."""
    known_state(session, None)
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
    door: tuple[int, str] | None = None,
) -> Added | None:
    """Store a follower's message in the conversation; None when this delivery is already stored. `door`:
    (identity id, app name) of the person's other identity it came through (the mini program's customer
    service into a conversation of the official account, or the reverse); replies follow it."""
    if kind not in INBOUND_KINDS + MINIPROGRAM_KINDS:
        raise Invalid("unsupported_message_type", f"unsupported message type {kind!r}")
    fields = fields or {}
    lock(session, conversation)
    message = TicketMessage(
        conversation_id=conversation.id,
        direction="inbound",
        kind=kind,
        dedupe_key=f"wx:{appid}:{msg_id}" if msg_id else None,
        # Phone and ID numbers the follower types are kept masked, as in the inbound log (privacy policy).
        body=mask_numbers((content or "")[:MAX_INBOUND_TEXT]),
        details=_details(kind, fields),
        app_name=door[1] if door else None,
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
    values: dict[str, Any] = {"last_user_message_at": now, "state": "open", "updated_at": now,
                              "door_identity_id": door[0] if door else None}  # fmt: skip
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


def lock(session: Session, conversation: Conversation) -> None:
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
    elif kind == "miniprogrampage":
        keys = {"title": "Title", "pagepath": "PagePath", "appid": "AppId"}
    elif kind == "tempsession":
        keys = {"session_from": "SessionFrom"}
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
        raise Conflict("claimed_by_another", N_("another agent has already claimed this conversation"))
    agents.audit_conversation(session, agent, "conversation.claim", conversation)


def assign(session: Session, conversation: Conversation, agent: Agent, assignee_id: int | None) -> None:
    if assignee_id is not None:
        assignee = session.get(Agent, assignee_id)
        if assignee is None or not assignee.active:
            raise NotFound("no_active_agent", N_("no such active agent"))
    conversation.assignee_id = assignee_id
    agents.audit_conversation(
        session,
        agent,
        "conversation.assign",
        conversation,
        f"to agent:{assignee_id}" if assignee_id else "unassigned",
    )


def resolve(session: Session, conversation: Conversation, agent: Agent) -> None:
    if conversation.state == "resolved":
        raise Conflict("already_resolved", N_("the conversation is already resolved"))
    conversation.state = "resolved"
    conversation.open_identity_id = None
    conversation.resolved_at = clock.now()
    conversation.awaiting_since = None
    agents.audit_conversation(session, agent, "conversation.resolve", conversation)


def reopen(session: Session, conversation: Conversation, agent: Agent) -> None:
    if conversation.state != "resolved":
        raise Conflict("not_resolved", N_("only a resolved conversation can be reopened"))
    newer = Conflict("newer_conversation", "the follower has a newer open conversation; continue there")
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
    agents.audit_conversation(session, agent, "conversation.reopen", conversation)


def recently_resolved(session: Session, identity_id: int, within: timedelta) -> Conversation | None:
    """The follower's conversation resolved within `within`, when they have none unresolved."""
    if within <= timedelta(0):
        return None
    known = _known(session, identity_id)
    if known is not None and (
        known.last_resolved_at is None or known.last_resolved_at < clock.now() - within
    ):
        return None  # most messages: nothing resolved lately, no statement asked
    if _unresolved(session, identity_id) is not None:
        return None
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.identity_id == identity_id,
            Conversation.state == "resolved",
            Conversation.resolved_at >= clock.now() - within,
        )
        .order_by(Conversation.resolved_at.desc())
        .limit(1)
    )


def reopen_for_follower(session: Session, identity_id: int, within: timedelta) -> Conversation | None:
    """A follow-up soon after Resolve: the conversation is open again, capturing what they send (as after
    「留言」), and back with the agents. None when there is nothing to reopen (or they opened one meanwhile)."""
    conversation = recently_resolved(session, identity_id, within)
    if conversation is None:
        return None
    known_state(session, None)  # their conversation is open again: what the callback read no longer holds
    now = clock.now()
    try:
        with session.begin_nested():
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.state == "resolved")
                .values(
                    state="open",
                    resolved_at=None,
                    open_identity_id=identity_id,
                    follower_ended_at=None,
                    updated_at=now,
                )  # fmt: skip
            )
    except IntegrityError:
        return None  # another delivery of theirs opened one at this very moment
    session.refresh(conversation)
    audit.log(session, actor="follower", action="conversation.reopen", subject_type="conversation",
              subject_id=conversation.id, detail="follow-up after resolve")  # fmt: skip
    return conversation


def record_view(session: Session, conversation: Conversation, agent: Agent) -> None:
    agents.audit_conversation(session, agent, "conversation.view", conversation)


def record_reveal(session: Session, conversation: Conversation, agent: Agent) -> None:
    if agent.role != "admin":
        raise Refused("admin_only", "only an admin may reveal a phone number")
    audit.log(
        session,
        actor=agents.actor(agent),
        action="phone.reveal",
        subject_type="identity",
        subject_id=conversation.identity_id,
        detail=f"conversation:{conversation.id}",
    )
