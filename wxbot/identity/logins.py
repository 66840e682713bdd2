"""Mini-program logins: bearer tokens (random, stored as SHA-256, expiring, revocable) and the session_key.

The token itself is shown once, in the login answer; the database holds only its hash, so a leaked table
logs nobody in. WeChat's session_key stays on the server, encrypted, and is never returned or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.identity import Identity
from wxbot.models.login import LoginSession, SessionKey
from wxbot.privacy import retention
from wxbot.privacy.pii import PiiKeys

TOKEN_MAX_LENGTH = 128


def hash_token(token: str) -> str:
    # The token has 256 random bits, so a plain hash is enough (nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, identity: Identity, *, ttl_seconds: int) -> tuple[str, LoginSession]:
    """A new login for the identity; returns the token (only here) and its row."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    login = LoginSession(
        identity_id=identity.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(login)
    session.flush()
    return token, login


def authenticate(session: Session, token: str) -> LoginSession | None:
    """The live login of this token: known, not expired, not revoked. None otherwise."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    login = session.scalars(select(LoginSession).where(LoginSession.token_hash == hash_token(token))).first()
    if login is None or login.revoked_at is not None or login.expires_at <= clock.now():
        return None
    return login


def revoke(session: Session, login: LoginSession) -> None:
    if login.revoked_at is None:
        login.revoked_at = clock.now()
        session.flush()


def store_session_key(session: Session, pii: PiiKeys, identity: Identity, session_key: str) -> None:
    """Keep the session_key of the identity's latest login (it replaces the previous one, as in WeChat)."""
    encrypted, now = pii.encrypt(session_key), clock.now()
    row = session.get(SessionKey, identity.id)
    if row is None:
        try:
            with session.begin_nested():
                session.add(SessionKey(identity_id=identity.id, session_key_enc=encrypted, obtained_at=now))
            return
        except IntegrityError:  # a concurrent login of the same identity stored one first: ours is as new
            row = session.get(SessionKey, identity.id, populate_existing=True)
            if row is None:
                raise
    row.session_key_enc, row.obtained_at = encrypted, now
    session.flush()


def session_key(session: Session, pii: PiiKeys, identity: Identity) -> str | None:
    row = session.get(SessionKey, identity.id)
    return pii.decrypt(row.session_key_enc) if row is not None else None


def delete_for_identities(session: Session, identity_ids: list[int]) -> dict[str, int]:
    """Erase the logins and session keys of these identities; counts per kind."""
    if not identity_ids:
        return {"login_sessions": 0, "session_keys": 0}
    logins = session.execute(delete(LoginSession).where(LoginSession.identity_id.in_(identity_ids)))
    keys = session.execute(delete(SessionKey).where(SessionKey.identity_id.in_(identity_ids)))
    return {
        "login_sessions": int(logins.rowcount or 0),  # type: ignore[attr-defined]
        "session_keys": int(keys.rowcount or 0),  # type: ignore[attr-defined]
    }


def purge_old(session: Session, cutoff: datetime) -> retention.Purged:
    """Retention ("login_sessions"): logins that ended (expired or revoked) before `cutoff`, and session keys
    obtained before it (the legacy decrypt needs the key of a recent login only)."""
    logins = session.execute(
        delete(LoginSession).where(or_(LoginSession.expires_at < cutoff, LoginSession.revoked_at < cutoff))
    )
    keys = session.execute(delete(SessionKey).where(SessionKey.obtained_at < cutoff))
    return retention.Purged(deleted=int(logins.rowcount or 0) + int(keys.rowcount or 0))  # type: ignore[attr-defined]


RETENTION: retention.RetentionRule = retention.RetentionRule(
    "login_sessions", purge_old, "mini-program logins that ended, and old session keys: deleted"
)
