"""May we send this user a customer-service message now, and how many are left? (wechat-platform.md §5.1)

Each user action grants an allowance, by the kind of app it happened in (RULES):
  - official account: a message opens 48 hours and 5 messages; a follow, a scan of a parametric QR code or a
    menu click (an "action") 1 minute and 3;
  - mini program (its customer-service chat): a message opens 48 hours and 5; entering the chat
    (user_enter_tempsession, the mini program's "action") 1 minute and 2.
The callback records the trigger, the sender asks status() and consume()s one before each customer-service
message; both doors answer through these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.reply_window import ReplyWindow

# the 48-hour window a user's message opens, through either door
MESSAGE_WINDOW = timedelta(hours=48)
# app kind -> trigger -> (valid for, messages allowed)
RULES: dict[str, dict[str, tuple[timedelta, int]]] = {
    "official": {"message": (MESSAGE_WINDOW, 5), "action": (timedelta(minutes=1), 3)},
    "miniprogram": {"message": (MESSAGE_WINDOW, 5), "action": (timedelta(minutes=1), 2)},
}


@dataclass(frozen=True)
class WindowStatus:
    open: bool
    remaining: int
    expires_at: datetime | None  # when the last usable grant ends; None when closed


# built once: every delivery runs it (Core on the table, no ORM bookkeeping)
_RENEW = (
    update(ReplyWindow.__table__)  # type: ignore[arg-type]
    .where(
        ReplyWindow.__table__.c.identity_id == bindparam("w_identity_id"),
        ReplyWindow.__table__.c.kind == bindparam("w_kind"),
    )
    .values(
        opened_at=bindparam("opened_at"), expires_at=bindparam("expires_at"), remaining=bindparam("remaining")
    )
)


def record_trigger(session: Session, identity_id: int, kind: str, *, app_kind: str = "official") -> None:
    """The user did something that opens a window of `kind` (message | action) in an app of `app_kind`
    (official | miniprogram): grant it afresh."""
    ttl, quota = RULES[app_kind][kind]
    now = clock.now()
    values = {"opened_at": now, "expires_at": now + ttl, "remaining": quota}
    if _renew(session, identity_id, kind, values):
        return
    try:
        with session.begin_nested():
            session.add(ReplyWindow(identity_id=identity_id, kind=kind, **values))
    except IntegrityError:  # another transaction opened it first: ours is as fresh
        _renew(session, identity_id, kind, values)


def _renew(session: Session, identity_id: int, kind: str, values: dict[str, object]) -> bool:
    params = {"w_identity_id": identity_id, "w_kind": kind, **values}
    return session.connection().execute(_RENEW, params).rowcount > 0


def close(session: Session, identity_id: int) -> None:
    """The follower left (unsubscribe): WeChat refuses customer-service messages to them (45015)."""
    session.execute(delete(ReplyWindow).where(ReplyWindow.identity_id == identity_id))


def _usable(session: Session, identity_id: int) -> list[ReplyWindow]:
    now = clock.now()
    stmt = (
        select(ReplyWindow)
        .where(
            ReplyWindow.identity_id == identity_id,
            ReplyWindow.expires_at > now,
            ReplyWindow.remaining > 0,
        )
        .order_by(ReplyWindow.expires_at)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def status(session: Session, identity_id: int) -> WindowStatus:
    grants = _usable(session, identity_id)
    if not grants:
        return WindowStatus(open=False, remaining=0, expires_at=None)
    return WindowStatus(
        open=True, remaining=sum(g.remaining for g in grants), expires_at=max(g.expires_at for g in grants)
    )


def consume(session: Session, identity_id: int) -> bool:
    """Take one message from the grant that ends soonest; False when none is left. Safe under concurrency:
    the decrement only happens while something remains."""
    now = clock.now()
    for grant in _usable(session, identity_id):
        stmt = (
            update(ReplyWindow)
            .where(
                ReplyWindow.identity_id == identity_id,
                ReplyWindow.kind == grant.kind,
                ReplyWindow.remaining > 0,
                ReplyWindow.expires_at > now,
            )
            .values(remaining=ReplyWindow.remaining - 1)
            .execution_options(synchronize_session=False)
        )
        if session.execute(stmt).rowcount:  # type: ignore[attr-defined]
            return True
    return False
