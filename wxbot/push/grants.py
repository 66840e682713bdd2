"""Subscribe authorisations, the mini program's and the official account's (订阅通知): each accepted tap on a
one-time template allows one message of that template; the sender reserves one per send (wxbot.push.sender)
and gives it back when WeChat did not take the message (wxbot.push.results). A long-term 订阅通知 is one
grant that no send spends, until the person withdraws it (or WeChat answers 43101: they did)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.outbox import SubscribeGrant


def record_grant(
    session: Session, identity_id: int, template_id: str, *, source: str, long_term: bool = False
) -> SubscribeGrant:
    """The person accepted one send of `template_id` (source: client | event), or every send (long_term).
    The client's report and WeChat's event for the same tap arrive within moments of each other: they make
    one grant; a long-term template has one grant however often it is accepted."""
    now = clock.now()
    if long_term:
        held = session.scalars(
            select(SubscribeGrant).where(
                SubscribeGrant.identity_id == identity_id,
                SubscribeGrant.template_id == template_id,
                SubscribeGrant.long_term.is_(True),
                SubscribeGrant.revoked_at.is_(None),
            )
        ).first()
        if held is not None:
            return held
        grant = SubscribeGrant(identity_id=identity_id, template_id=template_id, long_term=True,
                               **{("client_reported_at" if source == "client" else "event_reported_at"): now})  # fmt: skip
        session.add(grant)
        session.flush()
        return grant
    mine, theirs = (
        (SubscribeGrant.client_reported_at, SubscribeGrant.event_reported_at)
        if source == "client"
        else (SubscribeGrant.event_reported_at, SubscribeGrant.client_reported_at)
    )
    twin = session.scalars(
        select(SubscribeGrant)
        .where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.template_id == template_id,
            mine.is_(None),
            theirs >= now - timedelta(minutes=5),
            SubscribeGrant.revoked_at.is_(None),
        )
        .order_by(SubscribeGrant.id)
        .limit(1)
    ).first()
    if twin is not None:
        setattr(twin, mine.key, now)
        return twin
    grant = SubscribeGrant(identity_id=identity_id, template_id=template_id, **{mine.key: now})
    session.add(grant)
    session.flush()
    return grant


def revoke_grants(session: Session, identity_id: int, template_id: str) -> int:
    """The person turned the template off (or WeChat says they have none left, 43101): their unused
    authorisations for it, long-term ones included, are gone."""
    result = session.execute(
        update(SubscribeGrant)
        .where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.template_id == template_id,
            SubscribeGrant.used_at.is_(None),
            SubscribeGrant.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def unused_grants(session: Session, identity_id: int) -> dict[str, int]:
    """template_id -> how many unused authorisations the identity holds."""
    rows = session.scalars(
        select(SubscribeGrant).where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.used_at.is_(None),
            SubscribeGrant.revoked_at.is_(None),
        )
    )
    counts: dict[str, int] = {}
    for grant in rows:
        counts[grant.template_id] = counts.get(grant.template_id, 0) + 1
    return counts
