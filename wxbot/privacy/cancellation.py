"""Cancelling an account (or, for a person who never linked one, their WeChat identities): a review
period during which the user may revoke it, then the erasure in every declared module and in the core
tables below. An erasure cannot be undone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.errors import NotFound
from wxbot.models.identity import Account, Identity
from wxbot.models.ledger import Consent
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import audit
from wxbot.privacy import registry as rights
from wxbot.privacy.erasure import erase_rows
from wxbot.privacy.requests import RESPONSE_DAYS, track
from wxbot.privacy.subjects import requests_of_subject, subject, unlinked_person

# The tables the privacy core erases itself; every other table with personal columns belongs to a declared
# module (wxbot.privacy.declarations).
CORE_TABLES = ("accounts", "identities", "consents", "privacy_requests")


def pending_cancellation(
    session: Session, account_id: int | None, *, identity_id: int | None = None
) -> PrivacyRequest | None:
    """The account's pending cancellation; with account_id None, that of the person without an account who
    asked through `identity_id`."""
    return session.scalars(
        select(PrivacyRequest).where(
            requests_of_subject(account_id, identity_id),
            PrivacyRequest.kind == "cancellation",
            PrivacyRequest.status == "pending",
        )
    ).first()


def request_cancellation(
    session: Session,
    account_id: int | None,
    *,
    identity_id: int | None = None,
    review_days: int,
    channel: str,
    actor: str = "user",
) -> PrivacyRequest:
    """Start the review period; the account is erased when it ends unless revoked. Asking twice is one request.

    With account_id None, a WeChat person who never linked an account asks through `identity_id`: their
    identities are erased the same way. The same review period applies (the policy, §六: a cancellation is
    reviewed within 15 days, and may be revoked until then): an erasure cannot be undone, and one rule for
    everyone is the one people can rely on.
    """
    if not 1 <= review_days <= RESPONSE_DAYS:
        raise ValueError(f"review_days must be between 1 and {RESPONSE_DAYS}")
    subject_type, subject_id = subject(session, account_id, identity_id)
    existing = pending_cancellation(session, account_id, identity_id=identity_id)
    if existing is not None:
        return existing
    request = track(
        session,
        account_id=account_id,
        identity_id=identity_id,
        kind="cancellation",
        channel=channel,
        completed=False,
        effective_at=clock.now() + timedelta(days=review_days),
    )
    audit.log(
        session,
        actor=actor,
        action=f"{subject_type}.cancel_request",
        subject_type=subject_type,
        subject_id=subject_id,
    )
    return request


def revoke_cancellation(
    session: Session, account_id: int | None, *, identity_id: int | None = None, actor: str
) -> PrivacyRequest:
    """Revoke a pending cancellation; refused once the erasure has run (it cannot be undone)."""
    request = pending_cancellation(session, account_id, identity_id=identity_id)
    if request is None:
        raise NotFound("no_cancellation", "没有待处理的注销申请")
    # Conditional, so a revocation racing the erasure job either wins or finds nothing pending.
    revoked = session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.id == request.id, PrivacyRequest.status == "pending")
        .values(status="revoked", completed_at=clock.now(), handled_by=actor)
    ).rowcount  # type: ignore[attr-defined]
    if not revoked:
        raise NotFound("no_cancellation", "没有待处理的注销申请")
    session.refresh(request)
    subject_type = "account" if account_id is not None else "identity"
    audit.log(
        session,
        actor=actor,
        action=f"{subject_type}.cancel_revoke",
        subject_type=subject_type,
        subject_id=account_id if account_id is not None else identity_id,
    )
    return request


def due_cancellations(session: Session, *, limit: int = 100) -> list[int]:
    """Ids of the cancellations whose review period is over."""
    return list(
        session.scalars(
            select(PrivacyRequest.id)
            .where(
                PrivacyRequest.kind == "cancellation",
                PrivacyRequest.status == "pending",
                PrivacyRequest.effective_at <= clock.now(),
            )
            .order_by(PrivacyRequest.effective_at)
            .limit(limit)
        )
    )


def complete_cancellation(session: Session, request_id: int) -> bool:
    """Erase the account of a due cancellation, unless it was revoked meanwhile; True when erased."""
    claimed = session.execute(
        update(PrivacyRequest)
        .where(
            PrivacyRequest.id == request_id,
            PrivacyRequest.kind == "cancellation",
            PrivacyRequest.status == "pending",
            PrivacyRequest.effective_at <= clock.now(),
        )
        .values(status="completed", completed_at=clock.now(), handled_by="system")
    ).rowcount  # type: ignore[attr-defined]
    if not claimed:
        return False
    account_id, identity_id = session.execute(
        select(PrivacyRequest.account_id, PrivacyRequest.identity_id).where(PrivacyRequest.id == request_id)
    ).one()
    if account_id is not None:
        erase_account(session, account_id, actor="system")
    elif identity_id is not None:
        erase_identity(session, identity_id, actor="system")
    return True


def erase_account(session: Session, account_id: int, *, actor: str) -> dict[str, rights.Counts]:
    """Erase or anonymise the account's data in every module, unlink every identity. Cannot be undone."""
    # Taken first: a module's erase may unlink identities, and the core still has to anonymise them.
    identity_ids = list(session.scalars(select(Identity.id).where(Identity.account_id == account_id)))
    counts: dict[str, rights.Counts] = {}
    for module in rights.erase_sequence():
        counts[module.name] = module.erase(session, account_id)
    counts["account"] = _erase_core(session, account_id, identity_ids, actor=actor)
    summary = "; ".join(f"{m}: {sum(c.values())}" for m, c in counts.items())
    audit.log(
        session,
        actor=actor,
        action="account.erase",
        subject_type="account",
        subject_id=account_id,
        detail=summary,
    )
    return counts


def _erase_core(session: Session, account_id: int, identity_ids: list[int], *, actor: str) -> rights.Counts:
    consents = session.execute(
        delete(Consent).where(or_(Consent.account_id == account_id, Consent.identity_id.in_(identity_ids)))
    ).rowcount  # type: ignore[attr-defined]
    erase_rows(session, PrivacyRequest, PrivacyRequest.account_id == account_id)
    if identity_ids:
        still_linked = set(
            session.scalars(
                select(Identity.id).where(Identity.id.in_(identity_ids), Identity.account_id == account_id)
            )
        )
        erase_rows(session, Identity, Identity.id.in_(identity_ids))
        session.execute(
            update(Identity)
            .where(Identity.id.in_(identity_ids))
            .values(account_id=None, last_interaction_at=None, unionid_checked_at=None)
        )
        for identity_id in sorted(still_linked):  # a module that unlinked one has audited it already
            audit.log(
                session,
                actor=actor,
                action="identity.unlink",
                subject_type="identity",
                subject_id=identity_id,
                detail="account erased",
            )
    erase_rows(session, Account, Account.id == account_id)
    session.execute(
        update(Account).where(Account.id == account_id).values(status="cancelled", reminder_pref="off")
    )
    session.expire_all()
    return {"consents": int(consents or 0), "identities": len(identity_ids), "accounts": 1}


def erase_identity(session: Session, identity_id: int, *, actor: str) -> dict[str, rights.Counts]:
    """Erase a WeChat person who has no account: every module's data of their unlinked identities (logins
    included, so every token stops working), their consents and request messages, and the identities'
    personal columns per their markers. An identity linked to an account meanwhile is left to that account
    (its data is the account's now, erased by the account's own cancellation). Cannot be undone."""
    identity = session.get(Identity, identity_id)
    identity_ids = unlinked_person(session, identity) if identity is not None else []
    if not identity_ids:
        return {}
    counts: dict[str, rights.Counts] = {}
    for module in rights.erase_sequence():
        if module.erase_identities is not None:
            counts[module.name] = module.erase_identities(session, identity_ids)
    consents = session.execute(delete(Consent).where(Consent.identity_id.in_(identity_ids))).rowcount  # type: ignore[attr-defined]
    erase_rows(
        session,
        PrivacyRequest,
        PrivacyRequest.account_id.is_(None),
        PrivacyRequest.identity_id.in_(identity_ids),
    )
    erase_rows(session, Identity, Identity.id.in_(identity_ids))
    session.execute(
        update(Identity)
        .where(Identity.id.in_(identity_ids))
        .values(last_interaction_at=None, unionid_checked_at=None)
    )
    session.expire_all()
    counts["identity"] = {"consents": int(consents or 0), "identities": len(identity_ids)}
    audit.log(
        session,
        actor=actor,
        action="identity.erase",
        subject_type="identity",
        subject_id=identity_id,
        detail="; ".join(f"{m}: {sum(c.values())}" for m, c in counts.items()),
    )
    return counts
