"""The console's inbox: conversations in a state, a page at a time, in the order an agent must act on them,
with a search over message text, the follower's openid, the platform account id and the phone number (the
latter only through its keyed hash: the clear number never reaches a query)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from wxbot import clock
from wxbot.conversations import reply_window
from wxbot.conversations.statistics import is_overdue
from wxbot.models import Account, Identity
from wxbot.models.conversations import STATES, Conversation, TicketMessage

PAGE_SIZE = 50
MAX_QUERY = 64  # characters of a search


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    window: reply_window.WindowStatus
    overdue: bool
    last_message: TicketMessage | None
    undelivered: bool = False  # the agents' latest reply did not reach the follower
    earlier: int = 0  # the follower's other conversations

    @property
    def time_left(self) -> timedelta | None:
        expires = self.window.expires_at
        return expires - clock.now() if self.window.open and expires is not None else None


@dataclass(frozen=True)
class Search:
    """What the agent looks for: `text` in messages, or equal to an openid or platform account id; or a
    phone number, as the keyed hashes it may be stored under."""

    text: str = ""
    phone_hashes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.text or self.phone_hashes)


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int  # in this tab, with this scope and search
    page: int
    pages: int
    counts: dict[str, int]  # state -> conversations, with this scope and search


def page(
    session: Session,
    *,
    state: str,
    scope: str,
    agent_id: int,
    target: timedelta,
    search: Search = Search(),
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> InboxPage:
    """One page of conversations in `state` (all, mine or unassigned). Unresolved ones in the order an agent
    must act: overdue first, then the reply windows closing soonest, then the longest waiting; a
    conversation with no message yet (a menu click) last. Resolved ones, the latest first."""
    now = clock.now()
    filters = _filters(scope, agent_id, search)
    counts = dict.fromkeys(STATES, 0)
    counts.update(
        session.execute(
            select(Conversation.state, func.count()).where(*filters).group_by(Conversation.state)
        ).all()  # type: ignore[arg-type]
    )
    total = counts.get(state, 0)
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    query = (
        select(Conversation)
        .where(Conversation.state == state, *filters)
        .options(
            selectinload(Conversation.identity).selectinload(Identity.account),
            selectinload(Conversation.assignee),
        )
    )
    query = (
        query.order_by(*_urgency(now, target))
        if state != "resolved"
        else query.order_by(Conversation.resolved_at.desc(), Conversation.id.desc())
    )
    conversations = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    ids = [c.id for c in conversations]
    last, undelivered = _last_messages(session, ids), _undelivered(session, ids)
    earlier = _conversation_counts(session, [c.identity_id for c in conversations])
    rows = [
        InboxRow(
            c,
            reply_window.status(session, c.reply_identity_id),
            is_overdue(c, target, now),
            last.get(c.id),
            c.id in undelivered,
            earlier.get(c.identity_id, 1) - 1,
        )  # fmt: skip
        for c in conversations
    ]
    return InboxPage(rows, total, page, pages, counts)


def _filters(scope: str, agent_id: int, search: Search) -> list[Any]:
    filters: list[Any] = []
    if scope == "mine":
        filters.append(Conversation.assignee_id == agent_id)
    elif scope == "unassigned":
        filters.append(Conversation.assignee_id.is_(None))
    if search.phone_hashes:
        filters.append(
            Conversation.identity_id.in_(
                select(Identity.id)
                .join(Account, Account.id == Identity.account_id)
                .where(Account.phone_hash.in_(search.phone_hashes))
            )
        )
    elif search.text:
        text = search.text[:MAX_QUERY]
        people = (
            select(Identity.id)
            .outerjoin(Account, Account.id == Identity.account_id)
            .where(or_(Identity.openid == text, Account.platform_account_id == text))
        )
        said = exists().where(
            TicketMessage.conversation_id == Conversation.id,
            TicketMessage.body.contains(text, autoescape=True),
        )
        filters.append(or_(Conversation.identity_id.in_(people), said))
    return filters


def _urgency(now: datetime, target: timedelta) -> list[Any]:
    window_ends = reply_window.usable_until(Conversation.identity_id, now)
    overdue = case((Conversation.awaiting_since < now - target, 0), else_=1)
    no_message = case((Conversation.first_user_message_at.is_(None), 1), else_=0)
    no_window = case((window_ends.is_(None), 1), else_=0)
    not_waiting = case((Conversation.awaiting_since.is_(None), 1), else_=0)
    return [no_message, overdue, no_window, window_ends, not_waiting, Conversation.awaiting_since,
            Conversation.id]  # fmt: skip


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


def _undelivered(session: Session, conversation_ids: list[int]) -> set[int]:
    """The conversations whose latest agent reply ended undelivered."""
    if not conversation_ids:
        return set()
    newest = (
        select(func.max(TicketMessage.id))
        .where(TicketMessage.conversation_id.in_(conversation_ids), TicketMessage.direction == "outbound")
        .group_by(TicketMessage.conversation_id)
    )
    return set(
        session.scalars(
            select(TicketMessage.conversation_id).where(
                TicketMessage.id.in_(newest), TicketMessage.outcome == "undelivered"
            )
        )
    )


def _conversation_counts(session: Session, identity_ids: list[int]) -> dict[int, int]:
    if not identity_ids:
        return {}
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(Conversation.identity_id, func.count())
            .where(Conversation.identity_id.in_(set(identity_ids)))
            .group_by(Conversation.identity_id)
        ).all()
    )
