"""The rules that hold a notification back: the account's reminder choice, the quiet hours and the daily cap.

- `reminder` ("key" or "other") marks a reminder the account's choice governs (Account.reminder_pref:
  all lets both through, key only "key", off none); None: not a reminder (an answer the person waits for).
- Not urgent: held during the quiet hours and beyond the daily cap ([notify]); urgent: sent at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.config import Settings
from wxbot.config.schema import NotifySettings
from wxbot.db import is_mysql
from wxbot.models.identity import Account
from wxbot.models.outbox import OPEN_STATUSES, DailyCount, Notification

REMINDER_CLASSES = ("key", "other")
# The reminder choice -> the reminder classes it lets through.
CHOICE_ALLOWS: dict[str, frozenset[str]] = {
    "all": frozenset({"key", "other"}),
    "key": frozenset({"key"}),
    "off": frozenset(),
}


def reminder_allowed(reminder: str, choice: str) -> bool:
    """Whether the reminder choice `choice` lets a reminder of class `reminder` through."""
    return reminder in CHOICE_ALLOWS.get(choice, CHOICE_ALLOWS["all"])


def apply_reminder_choice(session: Session, account_id: int) -> int:
    """The account's reminder choice changed: unsent reminders it no longer lets through are skipped now.
    Returns how many."""
    account = session.get(Account, account_id)
    if account is None:
        return 0
    allowed = CHOICE_ALLOWS.get(account.reminder_pref, CHOICE_ALLOWS["all"])
    blocked = [c for c in REMINDER_CLASSES if c not in allowed]
    if not blocked:
        return 0
    result = session.execute(
        update(Notification)
        .where(
            Notification.account_id == account_id,
            Notification.status.in_(OPEN_STATUSES),
            Notification.reminder.in_(blocked),
        )
        .values(
            status="skipped",
            reason="preference",
            next_attempt_at=None,
            detail=f"reminder choice: {account.reminder_pref}",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- quiet hours


def quiet_until(at: datetime, tz: str, start: str, end: str) -> datetime | None:
    """When the quiet hours around `at` end (naive UTC), or None outside them. start/end are HH:MM local;
    start after end spans midnight (22:00-08:00)."""
    if not start or not end:
        return None
    local = clock.to_local(at, tz)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    now_t = local.time()
    if begin == finish:
        return None
    if begin < finish:
        inside = begin <= now_t < finish
        end_day = local.date()
    else:
        inside = now_t >= begin or now_t < finish
        end_day = local.date() + timedelta(days=1) if now_t >= begin else local.date()
    if not inside:
        return None
    return clock.to_utc(datetime.combine(end_day, finish, tzinfo=clock.local_zone(tz)))


# ---------------------------------------------------------------- daily cap


def capped(row: Notification, ns: NotifySettings) -> bool:
    """Whether the daily cap counts this notification."""
    return ns.daily_cap > 0 and not row.urgent and row.account_id is not None


def over_daily_cap(
    session: Session, settings: Settings, rows: Sequence[Notification], now: datetime
) -> tuple[set[int], dict[int, DailyCount]]:
    """The ids of the first sends beyond their account's daily cap (to be held until the next local day),
    and the accounts' counters (locked until commit; the caller counts what it really sends)."""
    ns = settings.notify
    firsts = [row for row in rows if capped(row, ns) and row.attempts == 0]
    if not firsts:
        return set(), {}
    day = clock.local_day(now, settings.app.timezone)
    counters = _lock_daily_counts(session, {row.account_id or 0 for row in firsts}, day)
    used = {account_id: counter.count for account_id, counter in counters.items()}
    over: set[int] = set()
    for row in firsts:
        account_id = row.account_id or 0
        if used[account_id] >= ns.daily_cap:
            over.add(row.id)
        else:
            used[account_id] += 1
    return over, counters


def _lock_daily_counts(session: Session, account_ids: set[int], day: date) -> dict[int, DailyCount]:
    """Today's counters of these accounts, locked until commit (concurrent senders queue here)."""
    values = [{"account_id": a, "day": day, "count": 0} for a in sorted(account_ids)]
    insert_missing = (
        mysql_insert(DailyCount).prefix_with("IGNORE")
        if is_mysql(session)
        else sqlite_insert(DailyCount).on_conflict_do_nothing()
    )
    session.connection().execute(insert_missing, values)
    stmt = (
        select(DailyCount)
        .where(DailyCount.account_id.in_(account_ids), DailyCount.day == day)
        .order_by(DailyCount.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {counter.account_id: counter for counter in session.scalars(stmt)}
