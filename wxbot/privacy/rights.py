"""The users' rights, kept by the code: access and export, correction, deletion, consent withdrawal, account
cancellation, the 15-day promise on every request, what an unsubscribe forgets, and the minimum age.

Each function takes a session and plain values and writes in the caller's transaction. Other modules take
part through the registries: wxbot.privacy.registry (export, erase, deletions, corrections, forget_follower),
wxbot.privacy.retention (retention rules) and wxbot.privacy.consent.on_withdraw (withdrawal effects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.identity.identities import person
from wxbot.models.identity import Account, Identity
from wxbot.models.ledger import Consent
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import audit, consent
from wxbot.privacy import registry as rights
from wxbot.privacy.erasure import erase_rows
from wxbot.privacy.pii import PiiKeys, mask_numbers, mask_phone

RESPONSE_DAYS = 15  # the policy: requests are answered, and cancellations reviewed, within 15 days
MIN_AGE = 16  # the policy, §九: nobody under 16
# A graduation year read with the oldest usual age at graduation (a bachelor's degree) gives the earliest
# plausible birth year: only those under 16 even on that reading are refused.
TYPICAL_GRADUATION_AGE = 22
MAX_MESSAGE_CHARS = 1000
# Consents the account itself rests on (the policy, and the phone number that keys it)
ACCOUNT_CONSENTS = ("privacy_policy", "phone")
# The tables this module answers for; every other table with personal columns belongs to a rights module.
CORE_TABLES = ("accounts", "identities", "consents", "privacy_requests")


class PrivacyError(ValueError):
    """A refused privacy request; `code` is stable for APIs, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnderAgeError(PrivacyError):
    def __init__(self) -> None:
        super().__init__("under_age", f"未满{MIN_AGE}周岁的用户不能使用本服务，我们没有保存您填写的信息。")


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.status == "cancelled":
        raise PrivacyError("no_account", "账号不存在或已注销")
    return account


def _unlinked_identity(session: Session, identity_id: int | None) -> Identity:
    """A WeChat person without an account, known by one of their identities."""
    identity = session.get(Identity, identity_id) if identity_id is not None else None
    if identity is None or identity.account_id is not None or identity.openid.startswith("erased-"):
        raise PrivacyError("no_account", "没有这个未关联账号的微信身份")
    return identity


def _unlinked_person(session: Session, identity: Identity) -> list[int]:
    """The ids of the person's identities (same unionid) that no account holds: what they have with us without
    an account. An identity linked to an account is that account's, exported and erased with it."""
    return [m.id for m in person(session, identity) if m.account_id is None]


def _subject(session: Session, account_id: int | None, identity_id: int | None) -> tuple[str, int]:
    """("account", id) for an account; ("identity", id) for a WeChat person who never linked one, known by
    the identity that asks. Refused (no_account) when neither exists."""
    if account_id is not None:
        return "account", _account(session, account_id).id
    return "identity", _unlinked_identity(session, identity_id).id


def _of_subject(account_id: int | None, identity_id: int | None) -> ColumnElement[bool]:
    """The requests of an account, or of a person without one (by the identity that asked)."""
    if account_id is not None:
        return PrivacyRequest.account_id == account_id
    if identity_id is None:
        raise ValueError("an account or an identity is needed")
    return and_(PrivacyRequest.account_id.is_(None), PrivacyRequest.identity_id == identity_id)


def _track(
    session: Session,
    *,
    account_id: int | None,
    identity_id: int | None = None,
    kind: str,
    channel: str,
    completed: bool,
    detail: str = "",
    message: str | None = None,
    effective_at: datetime | None = None,
    handled_by: str | None = None,
) -> PrivacyRequest:
    now = clock.now()
    request = PrivacyRequest(
        account_id=account_id,
        identity_id=identity_id,
        kind=kind,
        status="completed" if completed else "pending",
        channel=channel,
        detail=detail[:255],
        message=message,
        requested_at=now,
        due_at=now + timedelta(days=RESPONSE_DAYS),
        effective_at=effective_at,
        completed_at=now if completed else None,
        handled_by=handled_by if completed else None,
    )
    session.add(request)
    session.flush()
    return request


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---------------------------------------------------------------- access and export


def export_account(
    session: Session, pii: PiiKeys, account_id: int, *, actor: str, channel: str
) -> dict[str, Any]:
    """Everything wxbot holds about the account, from every registered module (phone numbers masked)."""
    account = _account(session, account_id)
    export: dict[str, Any] = {
        "generated_at": _iso(clock.now()),
        "policy_version": consent.POLICY_VERSION,
        "account": _core_export(session, pii, account),
        "modules": {},
    }
    for module in rights.modules():
        export["modules"][module.name] = module.export(session, account_id)
    _track(
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
    identity = _unlinked_identity(session, identity_id)
    identity_ids = _unlinked_person(session, identity)
    consents = session.scalars(
        select(Consent).where(Consent.identity_id.in_(identity_ids)).order_by(Consent.id)
    )
    export: dict[str, Any] = {
        "generated_at": _iso(clock.now()),
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
    _track(
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
        "created_at": _iso(account.created_at),
        "consents": [consent.describe(c) for c in consent.history(session, account_id=account.id)],
        "privacy_requests": [describe_request(r) for r in requests],
    }


def describe_request(r: PrivacyRequest) -> dict[str, Any]:
    """A request as its owner sees it (exports, and the mini program's request views)."""
    return {
        "kind": r.kind,
        "status": r.status,
        "requested_at": _iso(r.requested_at),
        "due_at": _iso(r.due_at),
        "effective_at": _iso(r.effective_at),
        "completed_at": _iso(r.completed_at),
    }


def reveal_phone(session: Session, pii: PiiKeys, account_id: int, *, actor: str) -> str | None:
    """The account's phone number in clear, for an admin who must see it; always audited."""
    account = session.get(Account, account_id)
    if account is None or account.phone_enc is None:
        return None
    audit.log(session, actor=actor, action="phone.reveal", subject_type="account", subject_id=account_id)
    return pii.decrypt(account.phone_enc)


# ---------------------------------------------------------------- correction and deletion


def correctable_fields() -> dict[str, list[str]]:
    """The profile fields a user may correct, by module."""
    return {m.name: list(m.correctable) for m in rights.modules() if m.correctable}


def correct_profile(
    session: Session, account_id: int, changes: dict[str, dict[str, Any]], *, actor: str, channel: str
) -> dict[str, list[str]]:
    """Apply the user's corrections, all or nothing: {"events": {"name": "..."}} -> fields changed per module.

    A refused value raises rights.InvalidCorrection (the caller's transaction rolls back).
    """
    _account(session, account_id)
    if not changes:
        raise PrivacyError("nothing_to_correct", "没有需要更正的内容")
    plan: list[tuple[rights.DataDeclaration, dict[str, Any]]] = []
    for name, fields in changes.items():
        module = rights.module(name)
        if module is None or module.correct is None or not isinstance(fields, dict) or not fields:
            raise PrivacyError("unknown_field", f"{name}: 没有可以更正的字段")
        unknown = sorted(set(fields) - set(module.correctable))
        if unknown:
            raise PrivacyError("unknown_field", f"{name}.{unknown[0]}: 不能在这里更正")
        plan.append((module, fields))
    changed: dict[str, list[str]] = {}
    for module, fields in plan:
        assert module.correct is not None
        changed[module.name] = module.correct(session, account_id, dict(fields))
    names = ", ".join(f"{m}.{f}" for m, fs in changed.items() for f in fs)
    _track(
        session,
        account_id=account_id,
        kind="correction",
        channel=channel,
        completed=True,
        detail=f"fields: {names}",
        handled_by=actor,
    )
    audit.log(
        session,
        actor=actor,
        action="profile.correct",
        subject_type="account",
        subject_id=account_id,
        detail=f"fields: {names}",
    )
    return changed


def request_correction(
    session: Session, account_id: int | None, message: str, *, identity_id: int | None = None, channel: str
) -> PrivacyRequest:
    """A correction the user cannot make themselves: staff answer it within RESPONSE_DAYS. With account_id
    None, from a person who never linked an account, through `identity_id`."""
    _subject(session, account_id, identity_id)
    message = (message or "").strip()
    if not message:
        raise PrivacyError("empty_message", "请说明需要更正的内容")
    if len(message) > MAX_MESSAGE_CHARS:
        raise PrivacyError("too_long", f"说明最多{MAX_MESSAGE_CHARS}个字")
    # Phone and ID numbers typed into the text are not kept in clear: they are corrected through their own
    # authorised flows, not by staff reading them.
    return _track(
        session,
        account_id=account_id,
        identity_id=identity_id,
        kind="correction",
        channel=channel,
        completed=False,
        message=mask_numbers(message),
    )


def deletable(*, linked: bool = True) -> list[str]:
    """What a user may delete on its own (e.g. "conversations"), from every module's registration; for a
    user without an account (linked False), what is found through their identities."""
    return sorted(
        {what for m in rights.modules() for what in (m.deletions if linked else m.identity_deletions)}
    )


def delete_data(
    session: Session,
    account_id: int | None,
    what: str,
    *,
    identity_id: int | None = None,
    actor: str,
    channel: str,
) -> int:
    """Delete one kind of the user's data through the module that registered it; returns how many. With
    account_id None, the data of a person who never linked an account, found through their identities."""
    subject_type, subject_id = _subject(session, account_id, identity_id)
    if subject_type == "account":
        by_account = [m.deletions[what] for m in rights.modules() if what in m.deletions]
        count = by_account[0](session, subject_id) if by_account else None
    else:
        by_identities = [m.identity_deletions[what] for m in rights.modules() if what in m.identity_deletions]
        person_ids = _unlinked_person(session, session.get_one(Identity, subject_id))
        count = by_identities[0](session, person_ids) if by_identities else None
    if count is None:
        raise PrivacyError("unknown_data", f"{what}: 不能在这里删除")
    _track(
        session,
        account_id=account_id,
        identity_id=identity_id,
        kind="deletion",
        channel=channel,
        completed=True,
        detail=f"{what}: {count}",
        handled_by=actor,
    )
    audit.log(
        session,
        actor=actor,
        action="data.delete",
        subject_type=subject_type,
        subject_id=subject_id,
        detail=f"{what}: {count}",
    )
    return count


def withdraw_consent(
    session: Session, account_id: int, kind: str, *, scope: str = "", actor: str, channel: str
) -> int:
    """Withdraw a consent everywhere, at once (the ledger's listeners stop what depended on it)."""
    _account(session, account_id)
    if kind not in consent.KINDS:
        raise PrivacyError("unknown_consent", f"{kind}: 没有这种授权")
    if kind in ACCOUNT_CONSENTS:
        # Without these there is no account to serve: withdrawing them is cancelling it (policy §六, 注销权).
        raise PrivacyError("needs_cancellation", "这项授权是账号的前提；不再同意请注销账号")
    count = consent.withdraw(session, kind=kind, account_id=account_id, scope=scope)
    _track(
        session,
        account_id=account_id,
        kind="withdrawal",
        channel=channel,
        completed=True,
        detail=f"{kind}:{scope}" if scope else kind,
        handled_by=actor,
    )
    return count


# ---------------------------------------------------------------- cancellation


def pending_cancellation(
    session: Session, account_id: int | None, *, identity_id: int | None = None
) -> PrivacyRequest | None:
    """The account's pending cancellation; with account_id None, that of the person without an account who
    asked through `identity_id`."""
    return session.scalars(
        select(PrivacyRequest).where(
            _of_subject(account_id, identity_id),
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
    subject_type, subject_id = _subject(session, account_id, identity_id)
    existing = pending_cancellation(session, account_id, identity_id=identity_id)
    if existing is not None:
        return existing
    request = _track(
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
        raise PrivacyError("no_cancellation", "没有待处理的注销申请")
    # Conditional, so a revocation racing the erasure job either wins or finds nothing pending.
    revoked = session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.id == request.id, PrivacyRequest.status == "pending")
        .values(status="revoked", completed_at=clock.now(), handled_by=actor)
    ).rowcount  # type: ignore[attr-defined]
    if not revoked:
        raise PrivacyError("no_cancellation", "没有待处理的注销申请")
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
    identity_ids = _unlinked_person(session, identity) if identity is not None else []
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


# ---------------------------------------------------------------- requests, for admins


def requests_of(
    session: Session, account_id: int | None, *, identity_id: int | None = None
) -> list[PrivacyRequest]:
    """The account's own requests (or, with account_id None, those of the identity's person), newest first."""
    return list(
        session.scalars(
            select(PrivacyRequest)
            .where(_of_subject(account_id, identity_id))
            .order_by(PrivacyRequest.id.desc())
            .limit(200)
        )
    )


@dataclass(frozen=True)
class OpenRequest:
    id: int
    kind: str
    account_id: int | None
    identity_id: int | None  # who asked; the subject when account_id is None (a person without an account)
    has_message: bool  # the user's own words, read through request_message (audited)
    channel: str
    detail: str
    requested_at: datetime
    due_at: datetime
    effective_at: datetime | None
    overdue: bool


def open_requests(session: Session, *, only_overdue: bool = False, limit: int = 500) -> list[OpenRequest]:
    """Pending requests, the most urgent first; `overdue` flags those past the 15-day promise."""
    now = clock.now()
    query = select(PrivacyRequest).where(PrivacyRequest.status == "pending")
    if only_overdue:
        query = query.where(PrivacyRequest.due_at < now)
    rows = session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id).limit(limit))
    return [
        OpenRequest(
            id=r.id,
            kind=r.kind,
            account_id=r.account_id,
            identity_id=r.identity_id,
            has_message=bool(r.message),
            channel=r.channel,
            detail=r.detail,
            requested_at=r.requested_at,
            due_at=r.due_at,
            effective_at=r.effective_at,
            overdue=r.due_at < now,
        )
        for r in rows
    ]


def request_counts(session: Session) -> dict[str, int]:
    """For a badge: how many requests are pending, and how many of those are overdue."""
    now = clock.now()
    pending = select(func.count()).select_from(PrivacyRequest).where(PrivacyRequest.status == "pending")
    return {
        "pending": session.scalar(pending) or 0,
        "overdue": session.scalar(pending.where(PrivacyRequest.due_at < now)) or 0,
    }


def request_message(session: Session, request_id: int, *, actor: str) -> str | None:
    """The user's own words on a request, for the staff member handling it (audited)."""
    request = session.get(PrivacyRequest, request_id)
    if request is None:
        raise PrivacyError("no_request", "没有这个申请")
    audit.log(
        session,
        actor=actor,
        action="privacy_request.view",
        subject_type="privacy_request",
        subject_id=request_id,
    )
    return request.message


def close_request(
    session: Session, request_id: int, *, actor: str, outcome: str = "completed"
) -> PrivacyRequest:
    """Staff close a pending request they handled by hand (completed or rejected); the user's message goes.
    Cancellations are closed by their job, or revoked by the user."""
    if outcome not in ("completed", "rejected"):
        raise ValueError("outcome must be completed or rejected")
    request = session.get(PrivacyRequest, request_id)
    if request is None or request.status != "pending":
        raise PrivacyError("no_request", "没有待处理的这个申请")
    if request.kind == "cancellation":
        raise PrivacyError("cancellation", "注销申请在审核期结束时自动处理，或由用户撤销")
    request.status, request.completed_at, request.handled_by = outcome, clock.now(), actor
    request.message = None  # the user's words served this request only
    audit.log(
        session,
        actor=actor,
        action=f"privacy_request.{outcome}",
        subject_type="privacy_request",
        subject_id=request_id,
        detail=request.kind,
    )
    session.flush()
    return request


# ---------------------------------------------------------------- unsubscribe


def on_unsubscribe(session: Session, identity: Identity) -> rights.Counts:
    """Forget what a follower's unsubscribe makes unnecessary (WeChat's rule). Call it from the unsubscribe
    handler, in its transaction, after marking the identity unsubscribed.

    Each module's forget_follower drops its own follower data; here the subscribe scene goes, and the unionid
    of a follower linked to no account (nothing else needs it). What stays is erased by the retention rule
    "unsubscribed_followers" once its period is over, unless the follower comes back.
    """
    counts: rights.Counts = {}
    for module in rights.modules():
        if module.forget_follower is not None:
            for what, count in module.forget_follower(session, identity.id).items():
                counts[f"{module.name}.{what}"] = count
    identity.subscribe_scene = None
    if identity.account_id is None:
        identity.unionid = None
    session.flush()
    audit.log(
        session, actor="system", action="follower.forget", subject_type="identity", subject_id=identity.id
    )
    return counts


def check_age(
    *,
    birth_year: int | None = None,
    birth_date: date | None = None,
    graduation_year: int | None = None,
    age: int | None = None,
) -> None:
    """Refuse anyone known to be under 16 (UnderAgeError) -- call it before storing anything of an entry.

    Knowing means: an age, a birth date or year, or a graduation year that puts the person under 16 even on
    the most generous reading (born early in the year; graduating at TYPICAL_GRADUATION_AGE). Implausible
    values are refused as invalid (PrivacyError "invalid_age").
    """
    today = clock.now().date()
    if age is not None:
        if not 0 <= age <= 120:
            raise PrivacyError("invalid_age", "年龄不正确")
        if age < MIN_AGE:
            raise UnderAgeError()
    if birth_date is not None:
        if not today.year - 120 <= birth_date.year <= today.year or birth_date > today:
            raise PrivacyError("invalid_age", "出生日期不正确")
        had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
        if today.year - birth_date.year - (0 if had_birthday else 1) < MIN_AGE:
            raise UnderAgeError()
    if birth_year is not None:
        if not today.year - 120 <= birth_year <= today.year:
            raise PrivacyError("invalid_age", "出生年份不正确")
        if today.year - birth_year < MIN_AGE:
            raise UnderAgeError()
    if graduation_year is not None:
        if not today.year - 80 <= graduation_year <= today.year + 15:
            raise PrivacyError("invalid_age", "毕业年份不正确")
        if today.year - (graduation_year - TYPICAL_GRADUATION_AGE) < MIN_AGE:
            raise UnderAgeError()
