"""May we send this user a customer-service message now, and how many are left? (wechat-platform.md §5.1)

Each user action grants an allowance, by the kind of app it happened in (RULES):
  - official account: a message opens 48 hours and 5 messages; a follow, a scan of a parametric QR code or a
    menu click (an "action") 1 minute and 3;
  - mini program (its customer-service chat): a message opens 48 hours and 5; entering the chat
    (user_enter_tempsession, the mini program's "action") 1 minute and 2.
The latest grant of each kind is kept on the identity's row (wxbot.models.identity), so the callback records
it in the statement that records the delivery's interaction (granted); the sender asks status() and
consume()s one before each customer-service message; both doors answer through these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.identity import Identity

# the 48-hour window a user's message opens, through either door
MESSAGE_WINDOW = timedelta(hours=48)
# app kind -> trigger -> (valid for, messages allowed)
RULES: dict[str, dict[str, tuple[timedelta, int]]] = {
    "official": {"message": (MESSAGE_WINDOW, 5), "action": (timedelta(minutes=1), 3)},
    "miniprogram": {"message": (MESSAGE_WINDOW, 5), "action": (timedelta(minutes=1), 2)},
}
KINDS = ("message", "action")

_IDENTITIES = Identity.__table__


def _expires(kind: str) -> Any:
    return _IDENTITIES.c[f"{kind}_window_expires_at"]


def _remaining(kind: str) -> Any:
    return _IDENTITIES.c[f"{kind}_window_remaining"]


def usable_until(identity_id: Any, now: datetime) -> Any:
    """When the last usable grant of the identity `identity_id` (a column or value) ends, as an expression
    for a query over many (the console's inbox): NULL when none is usable."""
    ends = [case((and_(_expires(k) > now, _remaining(k) > 0), _expires(k))) for k in KINDS]
    latest = case((ends[0].is_(None), ends[1]), (ends[1].is_(None), ends[0]), (ends[0] > ends[1], ends[0]),
                  else_=ends[1])  # fmt: skip
    return select(latest).where(_IDENTITIES.c.id == identity_id).scalar_subquery()


@dataclass(frozen=True)
class WindowStatus:
    open: bool
    remaining: int
    expires_at: datetime | None  # when the last usable grant ends; None when closed


def columns(kind: str) -> tuple[Any, Any]:
    """The identity's columns holding the grant of `kind` (message | action): expires_at, remaining."""
    return _expires(kind), _remaining(kind)


def granted(kind: str, now: datetime, app_kind: str = "official") -> tuple[datetime, int]:
    """What a trigger of `kind` at `now` in an app of `app_kind` grants afresh: (expires_at, remaining)."""
    ttl, quota = RULES[app_kind][kind]
    return now + ttl, quota


def grant(kind: str, now: datetime, app_kind: str = "official") -> dict[Any, Any]:
    """The identity's columns a trigger of `kind` sets, with their values."""
    return dict(zip(columns(kind), granted(kind, now, app_kind), strict=True))


def record_trigger(session: Session, identity_id: int, kind: str, *, app_kind: str = "official") -> None:
    """The user did something that opens a window of `kind` (message | action) in an app of `app_kind`
    (official | miniprogram): grant it afresh."""
    session.connection().execute(
        update(_IDENTITIES)  # type: ignore[arg-type]
        .where(_IDENTITIES.c.id == identity_id)
        .values(grant(kind, clock.now(), app_kind))
    )


CLOSED: dict[Any, Any] = {
    column: value for kind in KINDS for column, value in ((_expires(kind), None), (_remaining(kind), 0))
}


def close(session: Session, identity_id: int) -> None:
    """The follower left (unsubscribe): WeChat refuses customer-service messages to them (45015)."""
    session.connection().execute(update(_IDENTITIES).where(_IDENTITIES.c.id == identity_id).values(CLOSED))  # type: ignore[arg-type]


_GRANTS = select(*(c for kind in KINDS for c in (_expires(kind), _remaining(kind)))).where(
    _IDENTITIES.c.id == bindparam("identity_id")
)


def _grants(session: Session, identity_id: int) -> list[tuple[str, datetime, int]]:
    """(kind, expires_at, remaining) of each grant the follower holds, usable or not."""
    row = session.connection().execute(_GRANTS, {"identity_id": identity_id}).first()
    if row is None:
        return []
    found = []
    for i, kind in enumerate(KINDS):
        expires_at, remaining = row[2 * i], row[2 * i + 1]
        if expires_at is not None:
            found.append((kind, expires_at, remaining))
    return found


def _usable(session: Session, identity_id: int) -> list[tuple[str, datetime, int]]:
    now = clock.now()
    usable = [g for g in _grants(session, identity_id) if g[1] > now and g[2] > 0]
    return sorted(usable, key=lambda g: g[1])


def unexpired(session: Session, identity_id: int) -> int:
    """How many grants have not expired yet, spent or not."""
    now = clock.now()
    return sum(1 for _, expires_at, _ in _grants(session, identity_id) if expires_at > now)


def status(session: Session, identity_id: int) -> WindowStatus:
    grants = _usable(session, identity_id)
    if not grants:
        return WindowStatus(open=False, remaining=0, expires_at=None)
    return WindowStatus(open=True, remaining=sum(g[2] for g in grants), expires_at=max(g[1] for g in grants))


def consume(session: Session, identity_id: int) -> bool:
    """Take one message from the grant that ends soonest; False when none is left. Safe under concurrency:
    the decrement only happens while something remains."""
    now = clock.now()
    for kind, _, _ in _usable(session, identity_id):
        stmt = (
            update(_IDENTITIES)  # type: ignore[arg-type]
            .where(_IDENTITIES.c.id == identity_id, _remaining(kind) > 0, _expires(kind) > now)
            .values({_remaining(kind): _remaining(kind) - 1})
        )
        if session.connection().execute(stmt).rowcount:
            return True
    return False
