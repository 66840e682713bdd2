"""The consent ledger: record, check, withdraw. Withdrawal takes effect at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.ledger import Consent

POLICY_VERSION = "2020-v3"
KINDS = ("privacy_policy", "phone", "event_data", "organiser_sharing", "status_reminders")


def record(
    session: Session,
    *,
    kind: str,
    channel: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    scope: str = "",
    policy_version: str = POLICY_VERSION,
) -> Consent:
    """Record a consent unless the same one is already in force (then return that one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown consent kind {kind!r}")
    existing = current(session, kind=kind, account_id=account_id, identity_id=identity_id, scope=scope)
    if existing is not None:
        return existing
    consent = Consent(
        kind=kind,
        channel=channel,
        account_id=account_id,
        identity_id=identity_id,
        scope=scope,
        policy_version=policy_version,
        given_at=clock.now(),
    )
    session.add(consent)
    session.flush()
    return consent


def current(
    session: Session,
    *,
    kind: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    scope: str = "",
) -> Consent | None:
    query = select(Consent).where(
        Consent.kind == kind, Consent.scope == scope, Consent.withdrawn_at.is_(None)
    )
    if account_id is not None:
        query = query.where(Consent.account_id == account_id)
    if identity_id is not None:
        query = query.where(Consent.identity_id == identity_id)
    if account_id is None and identity_id is None:
        raise ValueError("an account or an identity is needed")
    return session.scalars(query.order_by(Consent.id.desc()).limit(1)).first()


def withdraw(
    session: Session,
    *,
    kind: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    scope: str = "",
) -> int:
    """Withdraw every consent in force of that kind; returns how many."""
    query = select(Consent).where(
        Consent.kind == kind, Consent.scope == scope, Consent.withdrawn_at.is_(None)
    )
    if account_id is not None:
        query = query.where(Consent.account_id == account_id)
    if identity_id is not None:
        query = query.where(Consent.identity_id == identity_id)
    rows = list(session.scalars(query))
    for row in rows:
        row.withdrawn_at = clock.now()
    session.flush()
    return len(rows)
