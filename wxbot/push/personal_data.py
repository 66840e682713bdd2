"""The outbox's part of the users' rights: export and erase a person's notifications and subscribe
authorisations, and purge final push records after their retention period (wxbot.privacy.declarations
lists PERSONAL_DATA)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wxbot.models.identity import Identity
from wxbot.models.outbox import DailyCount, Notification, SubscribeGrant
from wxbot.privacy import registry as rights
from wxbot.privacy import retention
from wxbot.push.explain import outcome


def _export(session: Session, account_id: int) -> dict[str, Any]:
    identity_ids = list(session.scalars(select(Identity.id).where(Identity.account_id == account_id)))
    rows = session.scalars(
        select(Notification).where(Notification.account_id == account_id).order_by(Notification.id)
    )
    return {"notifications": _describe(rows), "subscribe_authorisations": _grants(session, identity_ids)}


def _export_identities(session: Session, identity_ids: list[int]) -> dict[str, Any]:
    rows = session.scalars(
        select(Notification).where(Notification.identity_id.in_(identity_ids)).order_by(Notification.id)
    )
    return {"notifications": _describe(rows), "subscribe_authorisations": _grants(session, identity_ids)}


def _describe(rows: Iterable[Notification]) -> list[dict[str, Any]]:
    return [
        {"purpose": n.purpose, "created_at": n.created_at.isoformat(), "content": n.content, **outcome(n)}
        for n in rows
    ]


def _grants(session: Session, identity_ids: list[int]) -> list[dict[str, Any]]:
    grants = session.scalars(select(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids)))
    return [
        {
            "template_id": g.template_id,
            "granted_at": g.created_at.isoformat(),
            "used_at": g.used_at.isoformat() if g.used_at else None,
            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        }  # fmt: skip
        for g in grants
    ]


def _erase(session: Session, account_id: int) -> dict[str, int]:
    identity_ids = select(Identity.id).where(Identity.account_id == account_id)
    grants = session.execute(
        delete(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids))
    ).rowcount  # type: ignore[attr-defined]
    rows = session.execute(
        delete(Notification).where(
            (Notification.account_id == account_id) | Notification.identity_id.in_(identity_ids)
        )
    ).rowcount  # type: ignore[attr-defined]
    session.execute(delete(DailyCount).where(DailyCount.account_id == account_id))
    return {"notifications": int(rows), "subscribe_authorisations": int(grants)}


def _erase_identities(session: Session, identity_ids: list[int]) -> dict[str, int]:
    grants = session.execute(
        delete(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids))
    ).rowcount  # type: ignore[attr-defined]
    rows = session.execute(delete(Notification).where(Notification.identity_id.in_(identity_ids))).rowcount  # type: ignore[attr-defined]
    return {"notifications": int(rows), "subscribe_authorisations": int(grants)}


def _purge(session: Session, cutoff: datetime) -> retention.Purged:
    """Push records older than the retention period, once they are final (never one still to be sent)."""
    gone = session.execute(
        delete(Notification).where(Notification.created_at < cutoff, Notification.next_attempt_at.is_(None))
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        delete(SubscribeGrant).where(
            SubscribeGrant.created_at < cutoff,
            (SubscribeGrant.used_at.is_not(None)) | (SubscribeGrant.revoked_at.is_not(None)),
        )
    )
    return retention.Purged(deleted=int(gone))


PERSONAL_DATA = rights.DataDeclaration(
    "notifications",
    _export,
    _erase,
    label="消息推送记录",
    tables=("notifications", "subscribe_grants"),
    export_identities=_export_identities,
    erase_identities=_erase_identities,
    retention=(
        retention.RetentionRule(
            "notifications", _purge, "push records (outbox rows) once final, from creation"
        ),
    ),
)
