"""留言 conversations in the users' rights: export, erasure, the users' own deletions, forgetting who
unfollows, and the retention of resolved conversations (the `PERSONAL_DATA` declaration)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot.conversations.conversations import details
from wxbot.models.conversations import Conversation
from wxbot.models.identity import Identity
from wxbot.privacy import registry as rights
from wxbot.privacy import retention


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
    """Delete the follower's conversations with every message, and the messages' files (ON DELETE CASCADE)."""
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
    tables=("conversations", "ticket_messages", "ticket_media"),
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
