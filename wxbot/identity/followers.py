"""Official-account followers: the identity behind each openid and its follow state.

The unionid is not known here: a job asks WeChat's user/info for identities whose `unionid_checked_at` is
empty, so the callback never waits on WeChat.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.conversations import reply_window
from wxbot.models.identity import Identity
from wxbot.privacy import retention
from wxbot.privacy.erasure import erase_rows
from wxbot.privacy.unsubscribe import on_unsubscribe

# Built once, Core on the table: every delivery runs these, and building a statement or loading the whole
# identity (some thirty columns, each described by the driver) costs more CPU than the round trip.
_IDENTITIES = Identity.__table__
_ID_BY_OPENID = select(_IDENTITIES.c.id).where(
    _IDENTITIES.c.appid == bindparam("appid"), _IDENTITIES.c.openid == bindparam("openid")
)
# By primary key, so only the row is locked: the (appid, openid) index entry may be share-locked by
# transactions that lost a first-contact insert, and locking it too would make them wait on each other.
_LOCK_BY_ID = select(_IDENTITIES.c.id).where(_IDENTITIES.c.id == bindparam("identity_id")).with_for_update()
_BY_ID = _IDENTITIES.c.id == bindparam("identity_id")
# (names other than the columns': an UPDATE reserves those for its SET clause)
_BY_OPENID = (_IDENTITIES.c.appid == bindparam("by_appid"), _IDENTITIES.c.openid == bindparam("by_openid"))
# interacted(), as assignments. MySQL assigns left to right and later expressions see earlier assignments,
# SQLite sees the old row throughout: `subscribed` is read before it is set, the same in both.
_INTERACTION: tuple[tuple[Any, Any], ...] = (
    (_IDENTITIES.c.last_interaction_at, bindparam("now")),
    (
        _IDENTITIES.c.subscribed_at,
        case(
            (_IDENTITIES.c.subscribed, _IDENTITIES.c.subscribed_at),
            else_=func.coalesce(_IDENTITIES.c.subscribed_at, bindparam("now")),
        ),
    ),
    (
        _IDENTITIES.c.unionid_checked_at,
        case((_IDENTITIES.c.subscribed, _IDENTITIES.c.unionid_checked_at)),
    ),
    (_IDENTITIES.c.subscribed, True),
)
_INTERACTED = update(_IDENTITIES).where(_BY_ID).ordered_values(*_INTERACTION)  # type: ignore[arg-type]


@functools.cache
def _delivery_update(by_openid: bool, interacted: bool, window: str | None) -> Update:
    """The statement recording what a delivery changes on the follower's row: the interaction and the reply
    window it opens (wxbot.conversations.reply_window.grant, bound as window_expires_at/window_remaining)."""
    window_values: tuple[tuple[Any, Any], ...] = ()
    if window is not None:
        expires, remaining = reply_window.columns(window)
        window_values = (
            (expires, bindparam("window_expires_at")),
            (remaining, bindparam("window_remaining")),
        )
    where = _BY_OPENID if by_openid else (_BY_ID,)
    return (
        update(_IDENTITIES)  # type: ignore[arg-type]
        .where(*where)
        .ordered_values(*window_values, *(_INTERACTION if interacted else ()))
    )


def record_delivery(
    session: Session,
    *,
    interacted: bool,
    window: str | None,
    identity_id: int | None = None,
    appid: str | None = None,
    openid: str | None = None,
) -> bool:
    """One statement for what a delivery changes on the follower's row, found by id or by (appid, openid):
    interacted() when `interacted`, and the reply window of kind `window` granted afresh. By (appid, openid)
    it is also the row's lock (see identity_id_for). False when no row was found (or nothing to change)."""
    if not interacted and window is None:
        return False
    now = clock.now()
    params: dict[str, object] = {"now": now}
    if identity_id is not None:
        params["identity_id"] = identity_id
    else:
        params.update(by_appid=appid, by_openid=openid)
    if window is not None:
        expires_at, remaining = reply_window.granted(window, now)
        params.update(window_expires_at=expires_at, window_remaining=remaining)
    statement = _delivery_update(identity_id is None, interacted, window)
    return bool(session.connection().execute(statement, params).rowcount)


def identity_id_for(
    session: Session, *, app_name: str, appid: str, openid: str, kind: str = "official"
) -> int:
    """The id of the follower's identity on this official account (or mini program: `kind`), created on
    first contact, its row locked
    until the transaction ends. A delivery's inserts share-lock the row (foreign keys) and its updates then
    want it exclusively: two deliveries for one follower doing that at once deadlock on MySQL/MariaDB. Taking
    the exclusive lock first puts one follower's deliveries in a queue instead. (SQLite has one writer.)"""
    key = {"appid": appid, "openid": openid}
    connection = session.connection()
    found: int | None = connection.execute(_ID_BY_OPENID, key).scalar()
    if found is None:
        identity = Identity(app_name=app_name, appid=appid, kind=kind, openid=openid)
        try:
            with session.begin_nested():
                session.add(identity)
            return identity.id  # a row this transaction inserted is locked by it already
        except IntegrityError:  # first contact arriving twice at once: the other transaction created it
            found = connection.execute(_ID_BY_OPENID, key).scalar_one()
    connection.execute(_LOCK_BY_ID, {"identity_id": found})
    return found


def followed(session: Session, identity: Identity, scene: str | None) -> None:
    """A follow, plain or through a parametric QR code (`scene` without the qrscene_ prefix)."""
    identity.subscribed = True
    identity.subscribed_at = clock.now()
    identity.subscribe_scene = scene[:64] if scene else None
    # a new follow may come with a unionid now (the Open Platform binding can change): ask again
    identity.unionid_checked_at = None


def unfollowed(session: Session, identity: Identity) -> None:
    identity.subscribed = False
    identity.unsubscribed_at = clock.now()
    # WeChat's rule: what the follower's data was kept for ends with the follow
    on_unsubscribe(session, identity)


def scanned(session: Session, identity: Identity, scene: str | None) -> None:
    """A follower scanned a parametric QR code; only followers get SCAN, so they do follow."""
    if not identity.subscribed:
        followed(session, identity, scene)
    else:
        identity.subscribe_scene = identity.subscribe_scene or (scene[:64] if scene else None)


def interacted(session: Session, identity_id: int) -> None:
    """The follower did something themselves (wrote, clicked, scanned). WeChat delivers that only from
    followers, so a follow we missed (before this service, or lost) is caught up here: followed now, and the
    unionid asked again."""
    session.connection().execute(_INTERACTED, {"identity_id": identity_id, "now": clock.now()})


_USED_MINIPROGRAM = (
    update(_IDENTITIES)  # type: ignore[arg-type]
    .where(_IDENTITIES.c.id == bindparam("identity_id"))
    .values(last_interaction_at=bindparam("now"))
)


def used_miniprogram(session: Session, identity_id: int) -> None:
    """A mini-program user wrote to its customer service (or opened the chat): active now; nothing about
    following, which is the official account's."""
    session.connection().execute(_USED_MINIPROGRAM, {"identity_id": identity_id, "now": clock.now()})


def purge_unsubscribed(session: Session, cutoff: datetime) -> retention.Purged:
    """Followers who left before `cutoff`, never linked to an account and not back since: anonymised."""
    count = erase_rows(
        session,
        Identity,
        Identity.kind == "official",
        Identity.subscribed.is_(False),
        Identity.account_id.is_(None),
        Identity.unsubscribed_at < cutoff,
        Identity.openid.not_like("erased-%"),
    )
    return retention.Purged(anonymised=count)


RETENTION: retention.RetentionRule = retention.RetentionRule(
    "unsubscribed_followers",
    purge_unsubscribed,
    "official-account followers who unsubscribed and never linked an account: openid and unionid anonymised",
)
