"""What an unsubscribe forgets (WeChat's rule): each declared module's follower data, the subscribe scene,
and the unionid of a follower linked to no account."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wxbot.models.identity import Identity
from wxbot.privacy import audit
from wxbot.privacy import registry as rights


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
