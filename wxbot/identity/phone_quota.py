"""The mini programs' paid phone-number quota (since 2023-08-28, wechat-platform.md §7.2, §12): each successful
quick verification costs 0.03 CNY once the trial pack of 1,000 is used, and with no quota left WeChat refuses
(1400001) and the user sees a notice.

Counted here so that operators see it coming: every success through getuserphonenumber (record_success), the
quota WeChat reports each day (record_check, from jobs/phone_quota.py), and when WeChat last refused for want
of quota (record_exhausted). overview() is what the console's admin page and the job's log line say: the
estimated remaining quota (WeChat's figure at the last check, less the successes counted since) and whether
it is below `[identity] phone_quota_warn_below`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.quota import PhoneQuota


@dataclass(frozen=True)
class QuotaView:
    app_name: str
    remaining: int | None  # estimated; None before the first check
    total: int | None
    checked_at: datetime | None
    successes_since_check: int
    successes_total: int
    exhausted_at: datetime | None
    low: bool  # below the warning threshold, or refused by WeChat since the last check


def _row(session: Session, app_name: str) -> PhoneQuota:
    row = session.get(PhoneQuota, app_name)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = PhoneQuota(app_name=app_name, successes_since_check=0, successes_total=0)
            session.add(row)
    except IntegrityError:  # another process created it first
        return session.get_one(PhoneQuota, app_name)
    return row


def record_success(session: Session, app_name: str) -> None:
    """WeChat gave a phone number: one verification paid for (an increment, safe under concurrency)."""
    _row(session, app_name)
    session.execute(
        update(PhoneQuota)
        .where(PhoneQuota.app_name == app_name)
        .values(
            successes_since_check=PhoneQuota.successes_since_check + 1,
            successes_total=PhoneQuota.successes_total + 1,
        )
        .execution_options(synchronize_session=False)
    )


def record_exhausted(session: Session, app_name: str) -> None:
    _row(session, app_name).exhausted_at = clock.now()


def record_check(session: Session, app_name: str, *, total: int, used: int) -> None:
    """WeChat's own figures (wxa/charge/usage/get): the count since the check starts again."""
    row = _row(session, app_name)
    row.total, row.used, row.checked_at, row.successes_since_check = total, used, clock.now(), 0
    if total > used:
        row.exhausted_at = None  # topped up


def view(row: PhoneQuota, warn_below: int) -> QuotaView:
    remaining = None
    if row.total is not None and row.used is not None:
        remaining = max(row.total - row.used - row.successes_since_check, 0)
    refused = row.exhausted_at is not None and (row.checked_at is None or row.exhausted_at >= row.checked_at)
    return QuotaView(
        app_name=row.app_name,
        remaining=0 if refused else remaining,
        total=row.total,
        checked_at=row.checked_at,
        successes_since_check=row.successes_since_check,
        successes_total=row.successes_total,
        exhausted_at=row.exhausted_at,
        low=refused or (remaining is not None and remaining < warn_below),
    )


def overview(session: Session, app_names: list[str], warn_below: int) -> list[QuotaView]:
    """One line per mini program (those never counted nor checked too, with nothing known)."""
    rows = {
        r.app_name: r for r in session.scalars(select(PhoneQuota).where(PhoneQuota.app_name.in_(app_names)))
    }
    return [view(rows.get(name) or PhoneQuota(app_name=name, successes_since_check=0, successes_total=0),
                 warn_below) for name in app_names]  # fmt: skip
