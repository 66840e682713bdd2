"""Service level: overdue conversations, first response times, answers that missed the reply window."""

from __future__ import annotations

import statistics as stats
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.conversations.reply_window import MESSAGE_WINDOW
from wxbot.models.conversations import Conversation


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


def summary(session: Session, target: timedelta, days: int = 30) -> Statistics:
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
