"""What WeChat's user/info tells us about an official-account follower: the unionid, and whether they still
follow. The unionid joins the follower to the person's other identities and their account
(wxbot.identity.identities.adopt_unionid)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.identity import followers, identities
from wxbot.models.identity import Identity

MAX_UNIONID_LENGTH = 64


def due_for_check(session: Session, limit: int) -> list[tuple[int, str, str, datetime | None]]:
    """(id, app name, openid, subscribed_at) of following identities whose unionid was never asked for."""
    stmt = (
        select(Identity.id, Identity.app_name, Identity.openid, Identity.subscribed_at)
        .where(
            Identity.kind == "official", Identity.subscribed.is_(True), Identity.unionid_checked_at.is_(None)
        )
        .order_by(Identity.id)
        .limit(limit)
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(stmt)]


def record_user_info(
    session: Session, identity_id: int, subscribed_at: datetime | None, info: dict[str, Any]
) -> None:
    """Store the answer of user/info asked when the follower had followed since `subscribed_at`.

    A follow or unfollow that arrived while we asked wins: the answer is then about an older state.
    """
    identity = _unchanged(session, identity_id, subscribed_at)
    if identity is None:
        return
    identity.unionid_checked_at = clock.now()
    if info.get("subscribe") == 1:
        unionid = _unionid(info)
        if unionid is not None:
            identities.adopt_unionid(session, identity, unionid, actor="job:unionid")
    else:
        # WeChat says they no longer follow: their unsubscribe event was lost (or is still on its way).
        followers.unfollowed(session, identity)


def record_user_infos(session: Session, answers: list[tuple[int, datetime | None, dict[str, Any]]]) -> None:
    """record_user_info for many followers (identity id, subscribed_at when asked, WeChat's answer) at once,
    e.g. a user/info/batchget. A unionid no other identity has is stored as it is: the group of one has nothing
    to settle, and thousands of followers are spared a flush and a group query each."""
    ids = [identity_id for identity_id, _, _ in answers]
    # one query, and held here: the session keeps only weak references to what it loaded
    loaded = list(session.scalars(select(Identity).where(Identity.id.in_(ids))))
    unionids = {u for _, _, info in answers if (u := _unionid(info)) is not None}
    shared = set()
    if unionids:
        others = select(Identity.unionid).where(Identity.unionid.in_(unionids), Identity.id.not_in(ids))
        shared = set(session.scalars(others))
    for identity_id, subscribed_at, info in answers:
        unionid = _unionid(info)
        if unionid is None or unionid in shared:
            record_user_info(session, identity_id, subscribed_at, info)
            continue
        identity = _unchanged(session, identity_id, subscribed_at)
        if identity is not None:
            identity.unionid_checked_at = clock.now()
            identity.unionid = unionid
    del loaded


def _unionid(info: dict[str, Any]) -> str | None:
    """The unionid of a follower's user/info answer, when they follow and it is one."""
    unionid = info.get("unionid")
    if info.get("subscribe") == 1 and isinstance(unionid, str) and 0 < len(unionid) <= MAX_UNIONID_LENGTH:
        return unionid
    return None


def record_unknown(session: Session, identity_id: int, subscribed_at: datetime | None) -> None:
    """WeChat does not know this openid for this app (40003): asking again would not help."""
    identity = _unchanged(session, identity_id, subscribed_at)
    if identity is not None:
        identity.unionid_checked_at = clock.now()


def _unchanged(session: Session, identity_id: int, subscribed_at: datetime | None) -> Identity | None:
    identity = session.get(Identity, identity_id)
    if identity is None or identity.unionid_checked_at is not None or identity.subscribed_at != subscribed_at:
        return None
    return identity
