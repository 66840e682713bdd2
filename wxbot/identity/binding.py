"""One-time binding tokens: the proof, issued by us, that links an official-account follower to an account.

Two ways, both ending in wxbot.identity.identities.link(proof="binding_token"):
- follower_link: a follower sends 绑定; we reply with a mini-program link carrying a token. The mini-program
  user who redeems it (logged in, linked by phone) gets the follower's identity linked to their account.
- account_qr: the platform asks for a QR code for one of its accounts (POST /platform/bind-qr); the follower
  who follows or scans it is linked to that account.
A token works once, before it expires; only its SHA-256 is stored. Refusals say why (BindingRefused.code).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.errors import Conflict
from wxbot.identity import identities
from wxbot.models.binding import BindingToken
from wxbot.models.identity import Account, Identity

# The scene of a binding QR code: "bind_" + the token (WeChat allows 64 characters in scene_str).
QR_SCENE_PREFIX = "bind_"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")


class BindingRefused(Conflict):
    """The token cannot link (unknown_token, used_token, expired_token, different_person)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters


def _issue(
    session: Session,
    *,
    purpose: str,
    app_name: str,
    ttl_seconds: int,
    identity_id: int | None = None,
    account_id: int | None = None,
    token: str | None = None,
) -> tuple[str, BindingToken]:
    token = token or new_token()
    now = clock.now()
    row = BindingToken(
        token_hash=_hash(token),
        purpose=purpose,
        app_name=app_name,
        identity_id=identity_id,
        account_id=account_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    session.flush()
    return token, row


def issue_follower_link(session: Session, follower: Identity, *, ttl_seconds: int) -> str:
    """A token for the follower's 绑定 link."""
    token, _ = _issue(
        session,
        purpose="follower_link",
        app_name=follower.app_name,
        ttl_seconds=ttl_seconds,
        identity_id=follower.id,
    )
    return token


def qr_scene(token: str) -> str:
    """The scene_str of the QR code that carries `token`."""
    return QR_SCENE_PREFIX + token


def record_account_qr(
    session: Session, token: str, account: Account, *, oa_name: str, ttl_seconds: int
) -> None:
    """Record the token of a QR code WeChat made for the official account `oa_name` (see qr_scene)."""
    _issue(
        session,
        purpose="account_qr",
        app_name=oa_name,
        ttl_seconds=ttl_seconds,
        account_id=account.id,
        token=token,
    )


def qr_token(scene: str | None) -> str | None:
    """The token in a QR scene value (without WeChat's qrscene_ prefix), or None if it is not ours."""
    if not scene or not scene.startswith(QR_SCENE_PREFIX):
        return None
    token = scene[len(QR_SCENE_PREFIX) :]
    return token if TOKEN_PATTERN.fullmatch(token) else None


def _spend(session: Session, token: str, *, purpose: str, user: Identity) -> BindingToken:
    """Mark the token used by `user`, atomically (a second redeemer finds it used); raises BindingRefused."""
    row = session.scalars(
        select(BindingToken).where(BindingToken.token_hash == _hash(token), BindingToken.purpose == purpose)
    ).first()
    if row is None:
        raise BindingRefused("unknown_token", "this binding link is not valid")
    if row.used_at is not None:
        raise BindingRefused("used_token", "this binding link has already been used")
    if row.expires_at <= clock.now():
        raise BindingRefused("expired_token", "this binding link has expired; ask for a new one")
    spent = session.execute(
        update(BindingToken)
        .where(BindingToken.id == row.id, BindingToken.used_at.is_(None))
        .values(used_at=clock.now(), used_by_identity_id=user.id)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise BindingRefused("used_token", "this binding link has already been used")
    session.refresh(row)
    return row


def redeem_follower_link(session: Session, token: str, *, user: Identity, account: Account) -> Identity:
    """The mini-program `user`, linked to `account`, redeems a follower's token: the follower joins the
    account. Returns the follower. Refused when WeChat says they are different people (different unionids)
    or when the follower is linked elsewhere (identity.LinkRefused)."""
    row = _spend(session, token, purpose="follower_link", user=user)
    follower = session.get(Identity, row.identity_id) if row.identity_id is not None else None
    if follower is None:
        raise BindingRefused("unknown_token", "this binding link is not valid")
    if follower.unionid and user.unionid and follower.unionid != user.unionid:
        raise BindingRefused("different_person", "this binding link was issued to another WeChat user")
    identities.link(session, follower, account, proof="binding_token", actor=f"user:identity:{user.id}")
    return follower


def redeem_account_qr(session: Session, token: str, *, follower: Identity) -> Account:
    """A follower followed or scanned the account's QR code: link them to it. Returns the account."""
    row = _spend(session, token, purpose="account_qr", user=follower)
    if row.app_name != follower.app_name:
        raise BindingRefused("unknown_token", "this QR code belongs to another official account")
    account = session.get(Account, row.account_id) if row.account_id is not None else None
    if account is None:
        raise BindingRefused("unknown_token", "this QR code is not valid")
    identities.link(session, follower, account, proof="binding_token", actor=f"user:identity:{follower.id}")
    return account
