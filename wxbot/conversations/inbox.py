"""The console's inbox: conversations in a state, the most urgent first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.conversations import reply_window
from wxbot.conversations.statistics import is_overdue
from wxbot.models.conversations import Conversation, TicketMessage


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


def rows(session: Session, *, state: str, scope: str, agent_id: int, target: timedelta) -> list[InboxRow]:
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
        InboxRow(
            c, reply_window.status(session, c.reply_identity_id), is_overdue(c, target, now), last.get(c.id)
        )
        for c in conversations
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
