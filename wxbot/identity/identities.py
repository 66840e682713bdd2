"""One person, many WeChat faces: identities (app, openid), platform accounts, and the rules that link them.

Linking needs proof, named in the audit log:
  "phone"          a phone number WeChat verified (getuserphonenumber, or the watermark-checked decrypt);
  "binding_token"  a one-time token we issued (the official account's 绑定 link, the platform's QR code);
  "unionid"        WeChat says two identities are the same person (same unionid): they share one account.
Never a phone number someone typed, never a phone match across apps.

An identity already linked to another account moves only on a fresh phone proof; every other proof is refused
(LinkRefused). A link always takes the identity's whole unionid group along, so the group never splits.
Every link, move and unlink is audited (who, which identity, which account, which proof; never the data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot.errors import Conflict
from wxbot.identity import logins as login_data
from wxbot.models.binding import BindingToken
from wxbot.models.identity import Account, Identity
from wxbot.models.login import LoginSession
from wxbot.privacy import audit
from wxbot.privacy.pii import PiiKeys, mask_phone, normalise_phone

PROOFS = ("phone", "binding_token", "unionid")

T = TypeVar("T")


class LinkRefused(Conflict):
    """The link would break a rule (account_closed, already_linked)."""


class PhoneTaken(Conflict):
    """The platform gave a phone number that another platform account already holds."""

    def __init__(self) -> None:
        super().__init__("phone_taken", "another platform account holds this phone number")


class ConcurrentUpdate(Conflict):
    """Another request changed the same rows at the same moment; retrying gives the settled answer."""

    def __init__(self) -> None:
        super().__init__("conflict", "the same account was being saved at the same time; retry")


# ---------------------------------------------------------------- identities


def upsert_identity(
    session: Session, *, app_name: str, appid: str, kind: str, openid: str, unionid: str | None = None
) -> Identity:
    """The identity of (appid, openid), created on first sight; a unionid WeChat reports is kept."""
    identity, _ = _get_or_create(
        session,
        lambda: session.scalars(
            select(Identity).where(Identity.appid == appid, Identity.openid == openid)
        ).first(),
        lambda: Identity(app_name=app_name, appid=appid, kind=kind, openid=openid, unionid=unionid),
    )
    if unionid and identity.unionid != unionid:
        identity.unionid = unionid
        session.flush()
    return identity


def person(session: Session, identity: Identity) -> list[Identity]:
    """The identity and every identity with the same unionid: one person's WeChat faces."""
    if not identity.unionid:
        return [identity]
    rows = session.scalars(
        select(Identity).where(Identity.unionid == identity.unionid).order_by(Identity.id)
    ).all()
    return list(rows) if identity in rows else [identity, *rows]


def settle_unionid_group(session: Session, identity: Identity, *, actor: str) -> Account | None:
    """Identities with the same unionid share one account: unlinked members join the account the linked ones
    hold, when there is exactly one. Several accounts in one group are left alone: a phone proof settles it."""
    members = person(session, identity)
    account_ids = {m.account_id for m in members if m.account_id is not None}
    if len(account_ids) == 1:
        account = session.get(Account, account_ids.pop())
        if account is not None and account.status != "cancelled":
            for member in members:
                if member.account_id is None:
                    _set_link(session, member, account, proof="unionid", actor=actor)
            session.flush()
    account = identity.account
    return account if account is not None and account.status != "cancelled" else None


def adopt_unionid(
    session: Session, identity: Identity, unionid: str, *, actor: str = "system"
) -> Account | None:
    """Record the unionid WeChat reported for an identity (e.g. user/info for a follower) and settle its group."""
    identity.unionid = unionid
    session.flush()
    return settle_unionid_group(session, identity, actor=actor)


# ---------------------------------------------------------------- linking


def link(session: Session, identity: Identity, account: Account, *, proof: str, actor: str) -> list[Identity]:
    """Link the identity and its unionid group to the account; returns the identities that changed.

    Refused (nothing changed) when a member is linked to another account and the proof is not a phone.
    """
    if proof not in PROOFS:
        raise ValueError(f"unknown proof {proof!r}")
    if account.status == "cancelled":
        raise LinkRefused("account_closed", "this account has been cancelled")
    members = person(session, identity)
    if proof != "phone" and any(m.account_id not in (None, account.id) for m in members):
        raise LinkRefused(
            "already_linked",
            "this WeChat user is linked to another account; authorise the phone number again to move it",
        )
    changed = [m for m in members if m.account_id != account.id]
    for member in changed:
        _set_link(session, member, account, proof=proof, actor=actor)
    session.flush()
    return changed


def unlink(session: Session, identity: Identity, *, actor: str) -> list[Identity]:
    """Unlink the identity and its unionid group (else the next login would link it straight back)."""
    changed = [m for m in person(session, identity) if m.account_id is not None]
    for member in changed:
        audit.log(
            session,
            actor=actor,
            action="identity.unlink",
            subject_type="identity",
            subject_id=member.id,
            detail=f"account={member.account_id}",
        )
        member.account_id = None
        member.account = None
    session.flush()
    return changed


def link_by_phone(session: Session, pii: PiiKeys, identity: Identity, phone: str, *, actor: str) -> Account:
    """Link with a phone number WeChat verified: to the account holding it, else to the identity's own
    account if that has no phone yet, else to a new account. Raises ValueError for a non-mainland number."""
    phone = normalise_phone(phone)
    account = account_by_phone(session, pii, phone)
    if account is None:
        current = identity.account
        if current is not None and current.phone_hash is None and current.status != "cancelled":
            _set_phone(current, pii, phone)
            audit.log(
                session,
                actor=actor,
                action="account.phone_set",
                subject_type="account",
                subject_id=current.id,
            )
            account = current
        else:
            account = _create_account_with_phone(session, pii, phone, actor=actor)
    link(session, identity, account, proof="phone", actor=actor)
    return account


def _set_link(session: Session, member: Identity, account: Account, *, proof: str, actor: str) -> None:
    previous = member.account_id
    audit.log(
        session,
        actor=actor,
        action="identity.link" if previous is None else "identity.move",
        subject_type="identity",
        subject_id=member.id,
        detail=f"account={account.id} proof={proof}" + (f" from={previous}" if previous is not None else ""),
    )
    member.account_id = account.id
    member.account = account


# ---------------------------------------------------------------- accounts


def account_by_phone(session: Session, pii: PiiKeys, phone: str) -> Account | None:
    hashes = pii.lookup_hashes(phone)  # during a hash-key rotation a stored hash may be under a retired key
    return session.scalars(select(Account).where(Account.phone_hash.in_(hashes))).first()


def account_by_platform_id(session: Session, platform_account_id: str) -> Account | None:
    return session.scalars(select(Account).where(Account.platform_account_id == platform_account_id)).first()


def upsert_platform_account(
    session: Session, pii: PiiKeys, platform_account_id: str, phone: str
) -> tuple[Account, bool]:
    """The platform tells us an account and its phone; returns (account, created).

    An account created earlier by a phone proof in the mini program (no platform id yet) is adopted. A phone
    another platform account holds raises PhoneTaken; a malformed phone raises ValueError.
    """
    phone = normalise_phone(phone)
    by_id = account_by_platform_id(session, platform_account_id)
    by_phone = account_by_phone(session, pii, phone)
    if by_phone is not None and by_phone is not by_id:
        if by_id is not None or by_phone.platform_account_id is not None:
            raise PhoneTaken()
        by_phone.platform_account_id = platform_account_id
        audit.log(
            session, actor="platform", action="account.adopt", subject_type="account", subject_id=by_phone.id
        )
        session.flush()
        return by_phone, False
    if by_id is not None:
        if by_id.phone_hash not in pii.lookup_hashes(phone):
            _set_phone(by_id, pii, phone)
            audit.log(
                session,
                actor="platform",
                action="account.phone_set",
                subject_type="account",
                subject_id=by_id.id,
            )
            session.flush()
        return by_id, False
    account = Account(platform_account_id=platform_account_id)
    _set_phone(account, pii, phone)
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError as exc:
        # The same account (or phone) arrived twice at once and the other request created it first.
        raise ConcurrentUpdate() from exc
    audit.log(
        session, actor="platform", action="account.create", subject_type="account", subject_id=account.id
    )
    return account, True


def account_summary(pii: PiiKeys, account: Account | None) -> dict[str, Any] | None:
    """What the account's owner may see of it: the phone number masked."""
    if account is None:
        return None
    phone = pii.decrypt(account.phone_enc) if account.phone_enc else None
    return {"platform_account_id": account.platform_account_id, "phone": mask_phone(phone) or None}


def _set_phone(account: Account, pii: PiiKeys, phone: str) -> None:
    account.phone_enc = pii.encrypt(phone)
    account.phone_hash = pii.lookup_hash(phone)


def _create_account_with_phone(session: Session, pii: PiiKeys, phone: str, *, actor: str) -> Account:
    def create() -> Account:
        account = Account()
        _set_phone(account, pii, phone)
        return account

    account, created = _get_or_create(session, lambda: account_by_phone(session, pii, phone), create)
    if created:
        audit.log(
            session, actor=actor, action="account.create", subject_type="account", subject_id=account.id
        )
    return account


def _get_or_create(session: Session, find: Callable[[], T | None], make: Callable[[], T]) -> tuple[T, bool]:
    """find() or insert make(); returns (row, created). A concurrent insert of the same unique key is found
    instead of failing the transaction."""
    found = find()
    if found is not None:
        return found, False
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found, False
    return row, True


def linked_account(identity: Identity) -> Account | None:
    """The account the identity is linked to, None when it is unlinked or the account is cancelled. Identities
    with the same unionid share one account (settle_unionid_group), so this is the person's account."""
    account = identity.account
    return account if account is not None and account.status != "cancelled" else None


def identities_of(session: Session, account_id: int) -> list[Identity]:
    return list(
        session.scalars(select(Identity).where(Identity.account_id == account_id).order_by(Identity.id))
    )


# ---------------------------------------------------------------- the user's rights (wxbot.privacy.registry)


def export_account(session: Session, account_id: int) -> dict[str, Any]:
    """The account's WeChat identities and their logins (never tokens or session keys). The phone number
    itself is not decrypted here (no keys in a registry function): the export says whether one is on file."""
    account = session.get(Account, account_id)
    if account is None:
        return {}
    return {
        "account": {
            "platform_account_id": account.platform_account_id,
            "phone_on_file": account.phone_enc is not None,
            "created_at": account.created_at.isoformat(),
        },
        **export_identities(session, [m.id for m in identities_of(session, account_id)]),
    }


def export_identities(session: Session, identity_ids: list[int]) -> dict[str, Any]:
    """These identities and their logins (never tokens or session keys)."""
    members = list(
        session.scalars(select(Identity).where(Identity.id.in_(identity_ids)).order_by(Identity.id))
    )
    apps = {m.id: m.app_name for m in members}
    logins = session.scalars(
        select(LoginSession).where(LoginSession.identity_id.in_(identity_ids)).order_by(LoginSession.id)
    ).all()
    return {
        "identities": [
            {
                "app": m.app_name,
                "kind": m.kind,
                "openid": m.openid,
                "unionid": m.unionid,
                "subscribed": m.subscribed,
                "subscribed_at": m.subscribed_at.isoformat() if m.subscribed_at else None,
                "created_at": m.created_at.isoformat(),
            }
            for m in members
        ],
        "login_sessions": [
            {
                "app": apps[login.identity_id],
                "created_at": login.created_at.isoformat(),
                "expires_at": login.expires_at.isoformat(),
                "revoked_at": login.revoked_at.isoformat() if login.revoked_at else None,
            }
            for login in logins
        ],
    }


def erase_account(session: Session, account_id: int) -> dict[str, int]:
    """Cancellation: the identities' logins and session keys go and pending binding tokens are dropped.
    The account's phone number and the unlinking of its identities are the privacy core's (wxbot.privacy.cancellation),
    which runs after every module. Counts only."""
    members = identities_of(session, account_id)
    counts = login_data.delete_for_identities(session, [m.id for m in members])
    tokens = session.execute(
        delete(BindingToken).where(BindingToken.account_id == account_id, BindingToken.used_at.is_(None))
    )
    counts["binding_tokens"] = int(tokens.rowcount or 0)  # type: ignore[attr-defined]
    session.flush()
    return counts


def erase_identities(session: Session, identity_ids: list[int]) -> dict[str, int]:
    """Erasure without an account: the identities' logins (so every token stops working), session keys and
    the binding links they asked for. The identities themselves are the privacy core's."""
    counts = login_data.delete_for_identities(session, identity_ids)
    tokens = session.execute(delete(BindingToken).where(BindingToken.identity_id.in_(identity_ids)))
    counts["binding_tokens"] = int(tokens.rowcount or 0)  # type: ignore[attr-defined]
    session.flush()
    return counts
