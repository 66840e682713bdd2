"""留言 through the mini program's door: its customer-service chat (`<button open-type="contact">`).

What a mini-program user writes there lands in the same conversations as the official account's 留言: the
person's unresolved conversation, found through any of their identities with the same unionid, or a new one
on the mini-program identity. Opening the chat is the request itself, so no 「留言」 keyword is needed, and
nothing is answered in the chat (a mini program has no passive replies; the agents' budget of 5 is theirs).
Entering the chat (user_enter_tempsession) is noted in a conversation already unresolved and opens no new one:
it asks nothing by itself.

The door each message came through is kept (TicketMessage.app_name, Conversation.door_identity_id), and
replies go out through the door the user last wrote through (Conversation.reply_identity).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.conversations import conversations
from wxbot.identity import identities
from wxbot.models.conversations import Conversation, TicketMessage
from wxbot.models.identity import Identity

# what the mini program's customer service delivers, as the conversation's message kinds
MESSAGE_KINDS = {"text": "text", "image": "image", "miniprogrampage": "miniprogrampage"}
ENTERED = "user_enter_tempsession"


def door_label(kind: str, app_name: str) -> str:
    """How the console names a door: the kind of app (official | miniprogram) and its name."""
    return f"{'小程序' if kind == 'miniprogram' else '公众号'} {app_name}"


def person_conversation(session: Session, identity: Identity) -> Conversation | None:
    """The unresolved conversation of any of the person's identities (the same unionid), the latest first."""
    ids = [i.id for i in identities.person(session, identity)]
    return session.scalars(
        select(Conversation)
        .where(Conversation.open_identity_id.in_(ids))
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(1)
    ).first()


def receive(
    session: Session,
    identity_id: int,
    *,
    appid: str,
    msg_type: str,
    event: str | None,
    msg_id: str | None,
    content: str,
    fields: dict[str, Any],
) -> None:
    """One delivery of a mini program's customer-service chat, into the person's conversation."""
    identity = session.get_one(Identity, identity_id)
    kind = MESSAGE_KINDS.get(msg_type)
    if event == ENTERED:
        conversation = person_conversation(session, identity)
        if conversation is not None:
            _note_entered(session, conversation, identity, fields)
        return
    if kind is None:
        return  # another event (e.g. a subscribe authorisation): stored in the inbound log, nothing to file
    conversation = person_conversation(session, identity)
    if conversation is None:
        conversation, _ = conversations.open_for_follower(session, identity_id)
    # the user came back through customer service: their side is open again
    conversation.follower_ended_at = None
    door = None if conversation.identity_id == identity_id else (identity_id, identity.app_name)
    conversations.add_inbound(
        session,
        conversation,
        appid=appid,
        msg_id=msg_id,
        kind=kind,
        content=content,
        fields=fields,
        door=door,
    )


def _note_entered(
    session: Session, conversation: Conversation, identity: Identity, fields: dict[str, Any]
) -> None:
    """The user opened the chat again: the agents see it (and the 1-minute window it opened)."""
    note = TicketMessage(
        conversation_id=conversation.id,
        direction="inbound",
        kind="tempsession",
        body="",
        details=json.dumps({"session_from": str(fields.get("SessionFrom", ""))[:200]}, ensure_ascii=False),
        app_name=None if conversation.identity_id == identity.id else identity.app_name,
        created_at=clock.now(),
    )
    session.add(note)
    conversation.door_identity_id = None if conversation.identity_id == identity.id else identity.id
