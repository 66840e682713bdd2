"""Official-account followers: the identity behind each openid and its follow state.

The unionid is not known here: a job asks WeChat's user/info for identities whose `unionid_checked_at` is
empty, so the callback never waits on WeChat.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock, privacy
from wxbot.models.identity import Identity

# built once: every delivery runs it, and building a statement costs as much CPU as running it
_BY_OPENID = select(Identity).where(
    Identity.appid == bindparam("appid"), Identity.openid == bindparam("openid")
)


def identity_for(session: Session, *, app_name: str, appid: str, openid: str) -> Identity:
    """The follower's identity on this official account, created on first contact."""
    key = {"appid": appid, "openid": openid}
    identity = session.scalars(_BY_OPENID, key).first()
    if identity is not None:
        return identity
    identity = Identity(app_name=app_name, appid=appid, kind="official", openid=openid)
    try:
        with session.begin_nested():
            session.add(identity)
    except IntegrityError:  # first contact arriving twice at once: the other transaction created it
        return session.scalars(_BY_OPENID, key).one()
    return identity


def followed(session: Session, identity: Identity, scene: str | None) -> None:
    """A follow, plain or through a parametric QR code (`scene` without the qrscene_ prefix)."""
    identity.subscribed = True
    identity.subscribed_at = clock.now()
    identity.subscribe_scene = scene[:64] if scene else None
    # a new follow may come with a unionid now (the Open Platform binding can change): ask again
    identity.unionid_checked_at = None


def unfollowed(session: Session, identity: Identity) -> None:
    identity.subscribed = False
    identity.unsubscribed_at = clock.now()
    # WeChat's rule: what the follower's data was kept for ends with the follow
    privacy.on_unsubscribe(session, identity)


def scanned(session: Session, identity: Identity, scene: str | None) -> None:
    """A follower scanned a parametric QR code; only followers get SCAN, so they do follow."""
    if not identity.subscribed:
        followed(session, identity, scene)
    else:
        identity.subscribe_scene = identity.subscribe_scene or (scene[:64] if scene else None)


def interacted(session: Session, identity: Identity) -> None:
    """The follower did something themselves (wrote, clicked, scanned). WeChat delivers that only from
    followers, so a follow we missed (before this service, or lost) is caught up here."""
    identity.last_interaction_at = clock.now()
    if not identity.subscribed:
        identity.subscribed = True
        identity.subscribed_at = identity.subscribed_at or clock.now()
        identity.unionid_checked_at = None
