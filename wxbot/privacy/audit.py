"""The audit log: who did what to which subject, when. Never the personal data itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.ledger import AuditEntry


def log(
    session: Session, *, actor: str, action: str, subject_type: str, subject_id: object, detail: str = ""
) -> None:
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            detail=detail[:255],
        )
    )


def entries(
    session: Session, *, before: int | None = None, action: str = "", limit: int = 50
) -> list[AuditEntry]:
    """The latest entries (older than id `before`), those whose action starts with `action` if given."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    return list(session.scalars(query))
