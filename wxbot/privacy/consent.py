"""The consent ledger: record, check, withdraw. Withdrawal takes effect at once.

A consent belongs to a person: given through an identity (a follower, a mini-program user) or an account,
it counts for the account and every identity linked to it, so a consent given in the mini program before
the phone authorisation still counts once the identities are linked -- and a withdrawal anywhere withdraws
it everywhere.

Withdrawal effects beyond the ledger (stop pushes not yet sent, erase an event's data) belong to the modules
that own that data: their DataDeclaration names a listener per kind (`withdrawals`); withdraw() calls it in
the same transaction, so nothing queued survives the withdrawal. Senders still check is_given() before sending.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.identity import Identity
from wxbot.models.ledger import Consent

POLICY_VERSION = "2020-v3"
KINDS = ("privacy_policy", "phone", "event_data", "organiser_sharing", "status_reminders")
CHANNELS = ("official_account", "miniprogram", "platform", "console")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown consent kind {kind!r}")


def of_person(session: Session, account_id: int | None, identity_id: int | None) -> ColumnElement[bool]:
    """The consents of one person: by the account, by the identity, or by any identity linked to them."""
    if account_id is None and identity_id is None:
        raise ValueError("an account or an identity is needed")
    conditions: list[ColumnElement[bool]] = []
    if identity_id is not None:
        conditions.append(Consent.identity_id == identity_id)
        if account_id is None:
            account_id = session.scalar(select(Identity.account_id).where(Identity.id == identity_id))
    if account_id is not None:
        conditions.append(Consent.account_id == account_id)
        linked = select(Identity.id).where(Identity.account_id == account_id).scalar_subquery()
        conditions.append(Consent.identity_id.in_(linked))
    return or_(*conditions)


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
    """Record a consent unless the same one (kind, scope, policy version) is in force; then return that one."""
    _check_kind(kind)
    if channel not in CHANNELS:
        raise ValueError(f"unknown consent channel {channel!r}")
    existing = current(session, kind=kind, account_id=account_id, identity_id=identity_id, scope=scope)
    if existing is not None and existing.policy_version == policy_version:
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
    """The newest consent of that kind in force for the person, or None."""
    _check_kind(kind)
    query = select(Consent).where(
        Consent.kind == kind,
        Consent.scope == scope,
        Consent.withdrawn_at.is_(None),
        of_person(session, account_id, identity_id),
    )
    return session.scalars(query.order_by(Consent.id.desc()).limit(1)).first()


def is_given(
    session: Session,
    *,
    kind: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    scope: str = "",
    policy_version: str | None = None,
) -> bool:
    """Whether the person's consent is in force (under `policy_version`, when one is named)."""
    consent = current(session, kind=kind, account_id=account_id, identity_id=identity_id, scope=scope)
    return consent is not None and (policy_version is None or consent.policy_version == policy_version)


def withdraw(
    session: Session,
    *,
    kind: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    scope: str = "",
) -> int:
    """Withdraw every consent of that kind in force for the person, at once; returns how many."""
    _check_kind(kind)
    rows = list(
        session.scalars(
            select(Consent).where(
                Consent.kind == kind,
                Consent.scope == scope,
                Consent.withdrawn_at.is_(None),
                of_person(session, account_id, identity_id),
            )
        )
    )
    for row in rows:
        row.withdrawn_at = clock.now()
    session.flush()
    # The modules that react to a withdrawal say so in their declarations (imported here: they import this).
    from wxbot.privacy import registry

    for listener in registry.withdrawal_listeners(kind):
        listener(session, account_id, identity_id, scope)
    return len(rows)


def history(
    session: Session, *, account_id: int | None = None, identity_id: int | None = None
) -> list[Consent]:
    """Every consent of the person, given or withdrawn, oldest first (for the export)."""
    query = select(Consent).where(of_person(session, account_id, identity_id)).order_by(Consent.id)
    return list(session.scalars(query))


def describe(row: Consent) -> dict[str, str | None]:
    """One consent as the user sees it (export, the mini program's consent page)."""
    return {
        "kind": row.kind,
        "scope": row.scope,
        "policy_version": row.policy_version,
        "channel": row.channel,
        "given_at": row.given_at.isoformat(),
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
    }
