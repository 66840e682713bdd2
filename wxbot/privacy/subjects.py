"""Whose data a rights request is about: an account, or a WeChat person who never linked one (known by the
identity that asks). Every right is answered for both (the policy, §六, is for everyone)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from wxbot.errors import NotFound
from wxbot.identity.identities import person
from wxbot.models.identity import Account, Identity
from wxbot.models.privacy import PrivacyRequest


def active_account(session: Session, account_id: int) -> Account:
    """The account, refused (no_account) when it does not exist or is cancelled."""
    account = session.get(Account, account_id)
    if account is None or account.status == "cancelled":
        raise NotFound("no_account", "账号不存在或已注销")
    return account


def unlinked_identity(session: Session, identity_id: int | None) -> Identity:
    """A WeChat person without an account, known by one of their identities."""
    identity = session.get(Identity, identity_id) if identity_id is not None else None
    if identity is None or identity.account_id is not None or identity.openid.startswith("erased-"):
        raise NotFound("no_account", "没有这个未关联账号的微信身份")
    return identity


def unlinked_person(session: Session, identity: Identity) -> list[int]:
    """The ids of the person's identities (same unionid) that no account holds: what they have with us without
    an account. An identity linked to an account is that account's, exported and erased with it."""
    return [m.id for m in person(session, identity) if m.account_id is None]


def subject(session: Session, account_id: int | None, identity_id: int | None) -> tuple[str, int]:
    """("account", id) for an account; ("identity", id) for a WeChat person who never linked one, known by
    the identity that asks. Refused (no_account) when neither exists."""
    if account_id is not None:
        return "account", active_account(session, account_id).id
    return "identity", unlinked_identity(session, identity_id).id


def requests_of_subject(account_id: int | None, identity_id: int | None) -> ColumnElement[bool]:
    """The requests of an account, or of a person without one (by the identity that asked)."""
    if account_id is not None:
        return PrivacyRequest.account_id == account_id
    if identity_id is None:
        raise ValueError("an account or an identity is needed")
    return and_(PrivacyRequest.account_id.is_(None), PrivacyRequest.identity_id == identity_id)
