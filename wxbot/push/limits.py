"""WeChat's limits on an app's APIs: a pause of one API of one app, in the database (every sender process on
every host sees it), set when WeChat says so and lifted by an operator (`wxbot pauses`, the console).

Which errors pause, and for how long (wechat-platform.md §9, §10):
  45009  the app's daily quota for that API is spent: until the next local 00:00 (WeChat counts per day);
  45011  the API's per-minute quota: MINUTE_PAUSE, after which the row that met it is tried again.
Each API has its own quota (template/send 100,000 a day by default, custom/send 500,000), so a pause holds
that API only: a template quota never holds a customer-service reply. 45047 is not a pause: it is one
follower's customer-service window that is used up (that channel ends for that notification), not the app's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.db import is_mysql
from wxbot.errors import Invalid, NotFound
from wxbot.models.outbox import ApiPause, Notification
from wxbot.privacy import audit
from wxbot.wechat.errors import DAILY_QUOTA, MINUTE_LIMIT

# the WeChat API each channel sends through: what a pause names
CHANNEL_APIS = {
    "custom": "/cgi-bin/message/custom/send",
    "template": "/cgi-bin/message/template/send",
    "subscribe": "/cgi-bin/message/subscribe/send",
    "oa_subscribe": "/cgi-bin/message/subscribe/bizsend",
}
API_CHANNELS = {api: channel for channel, api in CHANNEL_APIS.items()}
MINUTE_PAUSE = timedelta(seconds=60)


@dataclass(frozen=True)
class Pause:
    app_name: str
    api: str
    channel: str
    until: datetime
    errcode: int


def pause_end(errcode: int | None, now: datetime, zone: str) -> datetime | None:
    """Until when `errcode` pauses the API that answered it; None when it does not pause."""
    if errcode == DAILY_QUOTA:
        return clock.next_local_midnight(now, zone)
    if errcode == MINUTE_LIMIT:
        return now + MINUTE_PAUSE
    return None


def pause(
    session: Session, app_name: str, channel: str, errcode: int | None, now: datetime, zone: str
) -> None:
    """WeChat answered `errcode` to a send of `app_name` through `channel`: pause that API if it says so.
    Two answers at once keep the later end (a minute limit never shortens a daily pause)."""
    until = pause_end(errcode, now, zone)
    if until is None:
        return
    values = {"app_name": app_name, "api": CHANNEL_APIS[channel], "until": until, "errcode": errcode,
              "updated_at": now}  # fmt: skip
    table = ApiPause.__table__
    if is_mysql(session):
        stmt_m = mysql_insert(ApiPause).values(**values)
        new = stmt_m.inserted
        session.execute(
            stmt_m.on_duplicate_key_update(
                errcode=case((new.until > table.c.until, new.errcode), else_=table.c.errcode),
                until=func.greatest(table.c.until, new.until),
                updated_at=new.updated_at,
            )
        )
    else:
        stmt_l = sqlite_insert(ApiPause).values(**values)
        new = stmt_l.excluded
        session.execute(
            stmt_l.on_conflict_do_update(
                index_elements=["app_name", "api"],
                set_={
                    "errcode": case((new.until > table.c.until, new.errcode), else_=table.c.errcode),
                    "until": func.max(table.c.until, new.until),
                    "updated_at": new.updated_at,
                },
            )
        )


def active(session: Session, now: datetime) -> dict[tuple[str, str], datetime]:
    """(app name, channel) -> until, for every pause in force: what the sender's channel choice needs."""
    return {
        (p.app_name, API_CHANNELS.get(p.api, p.api)): p.until
        for p in session.scalars(select(ApiPause).where(ApiPause.until > now))
    }


def pauses(session: Session, now: datetime) -> list[Pause]:
    """The pauses in force, by app and API (the CLI and the console show them)."""
    rows = session.scalars(
        select(ApiPause).where(ApiPause.until > now).order_by(ApiPause.app_name, ApiPause.api)
    )
    return [Pause(p.app_name, p.api, API_CHANNELS.get(p.api, ""), p.until, p.errcode) for p in rows]


def api_of(name: str) -> str:
    """A channel name (template) or WeChat's path (/cgi-bin/message/template/send) -> the path."""
    if name in CHANNEL_APIS:
        return CHANNEL_APIS[name]
    if name in API_CHANNELS:
        return name
    raise Invalid(
        "unknown_api", f"没有这个接口：{name[:64]}（可用：{', '.join(CHANNEL_APIS)}）", api=name[:64]
    )


def lift(session: Session, app_name: str, api: str, *, actor: str) -> Pause:
    """An operator ends a pause now (WeChat's quota was reset, say with clear_quota); the rows that waited
    for it are due at once. Audited. NotFound when no such pause is in force."""
    now = clock.now()
    path = api_of(api)
    row = session.get(ApiPause, (app_name, path))
    if row is None or row.until <= now:
        raise NotFound("pause_not_found", f"{app_name} 的 {path} 没有暂停", app=app_name[:32], api=path)
    lifted = Pause(row.app_name, row.api, API_CHANNELS[row.api], row.until, row.errcode)
    session.execute(delete(ApiPause).where(ApiPause.app_name == app_name, ApiPause.api == path))
    # rows waiting for a pause do not say which one: all of them look again (those still paused wait again)
    session.execute(
        update(Notification)
        .where(
            Notification.status == "pending",
            Notification.reason == "paused",
            Notification.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.log(session, actor=actor, action="pause.lift", subject_type="api_pause", subject_id=f"{app_name}:{path}",
              detail=f"errcode {lifted.errcode}, until {lifted.until:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    return lifted
