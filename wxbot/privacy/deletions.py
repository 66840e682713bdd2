"""The right of deletion: one kind of the user's data (e.g. "conversations"), deleted through the module
that declared it, at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wxbot.errors import NotFound
from wxbot.models.identity import Identity
from wxbot.privacy import audit
from wxbot.privacy import registry as rights
from wxbot.privacy.requests import track
from wxbot.privacy.subjects import subject, unlinked_person


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
    subject_type, subject_id = subject(session, account_id, identity_id)
    if subject_type == "account":
        by_account = [m.deletions[what] for m in rights.modules() if what in m.deletions]
        count = by_account[0](session, subject_id) if by_account else None
    else:
        by_identities = [m.identity_deletions[what] for m in rights.modules() if what in m.identity_deletions]
        person_ids = unlinked_person(session, session.get_one(Identity, subject_id))
        count = by_identities[0](session, person_ids) if by_identities else None
    if count is None:
        raise NotFound("unknown_data", f"{what}: 不能在这里删除")
    track(
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
