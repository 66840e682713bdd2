"""The audit log: who did what to which subject, when. Never the personal data itself."""

from __future__ import annotations

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
