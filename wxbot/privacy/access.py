"""The right of access: everything wxbot holds about a person, from every declared module, as an export or
counted for a chat reply; and an admin's audited look at a phone number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.identity import Account
from wxbot.models.ledger import Consent
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import audit, consent
from wxbot.privacy import registry as rights
from wxbot.privacy.pii import PiiKeys, mask_phone
from wxbot.privacy.requests import describe_request, iso, track
from wxbot.privacy.subjects import active_account, unlinked_identity, unlinked_person


def export_account(
    session: Session, pii: PiiKeys, account_id: int, *, actor: str, channel: str
) -> dict[str, Any]:
    """Everything wxbot holds about the account, from every registered module (phone numbers masked)."""
    account = active_account(session, account_id)
    export: dict[str, Any] = {
        "generated_at": iso(clock.now()),
        "policy_version": consent.POLICY_VERSION,
        "account": _core_export(session, pii, account),
        "modules": {},
    }
    for module in rights.modules():
        export["modules"][module.name] = module.export(session, account_id)
    track(
        session,
        account_id=account_id,
        kind="export",
        channel=channel,
        completed=True,
        detail=f"modules: {len(export['modules'])}",
        handled_by=actor,
    )
    audit.log(session, actor=actor, action="account.export", subject_type="account", subject_id=account_id)
    return export


def export_identity(session: Session, identity_id: int, *, actor: str, channel: str) -> dict[str, Any]:
    """Everything wxbot holds about a WeChat person who never linked an account: their identities (the one
    asking and every unlinked one with the same unionid), consents, requests, and each module's data found
    through identities."""
    identity = unlinked_identity(session, identity_id)
    identity_ids = unlinked_person(session, identity)
    consents = session.scalars(
        select(Consent).where(Consent.identity_id.in_(identity_ids)).order_by(Consent.id)
    )
    export: dict[str, Any] = {
        "generated_at": iso(clock.now()),
        "policy_version": consent.POLICY_VERSION,
        "account": None,
        "person": {
            "consents": [consent.describe(c) for c in consents],
            "privacy_requests": [
                describe_request(r)
                for r in session.scalars(
                    select(PrivacyRequest)
                    .where(PrivacyRequest.account_id.is_(None), PrivacyRequest.identity_id.in_(identity_ids))
                    .order_by(PrivacyRequest.id)
                )
            ],
        },
        "modules": {
            m.name: m.export_identities(session, identity_ids)
            for m in rights.modules()
            if m.export_identities is not None
        },
    }
    track(
        session,
        account_id=None,
        identity_id=identity.id,
        kind="export",
        channel=channel,
        completed=True,
        detail=f"modules: {len(export['modules'])}",
        handled_by=actor,
    )
    audit.log(session, actor=actor, action="identity.export", subject_type="identity", subject_id=identity.id)
    return export


def access_summary(
    session: Session, pii: PiiKeys, account_id: int, *, actor: str, channel: str
) -> dict[str, Any]:
    """What an export holds, counted per kind of data (for a chat reply); tracked and audited as an export."""
    data = export_account(session, pii, account_id, actor=actor, channel=channel)
    return {
        "phone": data["account"]["phone"],
        "counts": _counts(data["account"]["consents"], data["modules"]),
    }


def identity_access_summary(
    session: Session, identity_id: int, *, actor: str, channel: str
) -> dict[str, int]:
    """access_summary for a person who never linked an account: counted from export_identity (tracked and
    audited as an export too)."""
    data = export_identity(session, identity_id, actor=actor, channel=channel)
    return _counts(data["person"]["consents"], data["modules"])


def _counts(consents: list[Any], modules: dict[str, Any]) -> dict[str, int]:
    counts = {"授权记录": len(consents)}
    for module in rights.modules():
        if module.name in modules:
            counts[module.label] = _count(modules[module.name])
    return counts


def _count(exported: Any) -> int:
    """How many things an export holds: a list's items, or the items of a record's lists."""
    if isinstance(exported, list):
        return len(exported)
    if isinstance(exported, dict):
        return sum(len(v) for v in exported.values() if isinstance(v, list)) or int(bool(exported))
    return int(exported is not None)


def _core_export(session: Session, pii: PiiKeys, account: Account) -> dict[str, Any]:
    requests = session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.account_id == account.id).order_by(PrivacyRequest.id)
    )
    return {
        "platform_account_id": account.platform_account_id,
        "phone": mask_phone(pii.decrypt(account.phone_enc)) if account.phone_enc else None,
        "reminder_pref": account.reminder_pref,
        "created_at": iso(account.created_at),
        "consents": [consent.describe(c) for c in consent.history(session, account_id=account.id)],
        "privacy_requests": [describe_request(r) for r in requests],
    }


def reveal_phone(session: Session, pii: PiiKeys, account_id: int, *, actor: str) -> str | None:
    """The account's phone number in clear, for an admin who must see it; always audited."""
    account = session.get(Account, account_id)
    if account is None or account.phone_enc is None:
        return None
    audit.log(session, actor=actor, action="phone.reveal", subject_type="account", subject_id=account_id)
    return pii.decrypt(account.phone_enc)
