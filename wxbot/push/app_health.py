"""An app's health as its sends see it: sends that WeChat refused with a token error (40001/40014/42001)
even after the facade's refresh-and-retry, in a row. After `[wechat] unhealthy_after_token_failures` of them
the app is unhealthy (a wrong AppSecret, a revoked API permission, a token another system keeps replacing)
until a send through it goes out again. In the database, so every process sees it; `wxbot doctor`, the
metrics and `wxbot apps health` read it through app_health().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wxbot.config import Settings
from wxbot.db import is_mysql
from wxbot.models.outbox import AppHealth


@dataclass(frozen=True)
class Health:
    app_name: str
    healthy: bool
    token_failures: int  # in a row, since the last send that went out
    errcode: int | None  # the last token error
    unhealthy_since: datetime | None


def app_health(session: Session, settings: Settings) -> list[Health]:
    """Every configured app, in the order of the settings, then any other app the sends have seen."""
    rows = {row.app_name: row for row in session.scalars(select(AppHealth).order_by(AppHealth.app_name))}
    names = [a.name for a in settings.wechat.official] + [a.name for a in settings.wechat.miniprogram]
    names += [name for name in rows if name not in names]
    found = []
    for name in names:
        row = rows.get(name)
        if row is None:
            found.append(Health(name, True, 0, None, None))
        else:
            found.append(Health(name, row.unhealthy_since is None, row.token_failures, row.errcode,
                                row.unhealthy_since))  # fmt: skip
    return found


def token_failed(session: Session, settings: Settings, app_name: str, errcode: int, now: datetime) -> None:
    """One more send of `app_name` refused with a token error after the refresh-and-retry."""
    threshold = settings.wechat.unhealthy_after_token_failures
    table = AppHealth.__table__
    becomes_unhealthy = case(
        (and_(table.c.unhealthy_since.is_(None), table.c.token_failures + 1 >= threshold), now),
        else_=table.c.unhealthy_since,
    )
    first = {"app_name": app_name, "token_failures": 1, "errcode": errcode,
             "unhealthy_since": now if threshold <= 1 else None, "updated_at": now}  # fmt: skip
    if is_mysql(session):
        # MySQL assigns left to right, each seeing the ones before: unhealthy_since reads the old count
        stmt = mysql_insert(AppHealth).values(**first)
        session.execute(
            stmt.on_duplicate_key_update(
                [
                    ("unhealthy_since", becomes_unhealthy),
                    ("token_failures", table.c.token_failures + 1),
                    ("errcode", errcode),
                    ("updated_at", now),
                ]
            )
        )
    else:
        stmt_l = sqlite_insert(AppHealth).values(**first)
        session.execute(
            stmt_l.on_conflict_do_update(
                index_elements=["app_name"],
                set_={
                    "unhealthy_since": becomes_unhealthy,
                    "token_failures": table.c.token_failures + 1,
                    "errcode": errcode,
                    "updated_at": now,
                },  # fmt: skip
            )
        )


def token_worked(session: Session, app_name: str) -> None:
    """A send of `app_name` went out: its token errors are over (a no-op for a healthy app)."""
    session.execute(
        update(AppHealth)
        .where(AppHealth.app_name == app_name, AppHealth.token_failures > 0)
        .values(token_failures=0, errcode=None, unhealthy_since=None)
        .execution_options(synchronize_session=False)
    )
