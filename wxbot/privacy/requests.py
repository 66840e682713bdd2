"""The 15-day promise: every rights request is tracked with its due date, and staff see what is open.

Requests answered at once (an export, a deletion) are recorded completed; those staff answer by hand (a
correction the user cannot make) or that wait for a review period (a cancellation) stay pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.errors import Conflict, NotFound
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import audit
from wxbot.privacy.subjects import requests_of_subject

RESPONSE_DAYS = 15  # the policy: requests are answered, and cancellations reviewed, within 15 days


def track(
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
    """Record a request, due RESPONSE_DAYS from now (completed at once, or pending)."""
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


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe_request(r: PrivacyRequest) -> dict[str, Any]:
    """A request as its owner sees it (exports, and the mini program's request views)."""
    return {
        "kind": r.kind,
        "status": r.status,
        "requested_at": iso(r.requested_at),
        "due_at": iso(r.due_at),
        "effective_at": iso(r.effective_at),
        "completed_at": iso(r.completed_at),
    }


def requests_of(
    session: Session, account_id: int | None, *, identity_id: int | None = None
) -> list[PrivacyRequest]:
    """The account's own requests (or, with account_id None, those of the identity's person), newest first."""
    return list(
        session.scalars(
            select(PrivacyRequest)
            .where(requests_of_subject(account_id, identity_id))
            .order_by(PrivacyRequest.id.desc())
            .limit(200)
        )
    )


# ---------------------------------------------------------------- for staff


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
        raise NotFound("no_request", "没有这个申请")
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
        raise NotFound("no_request", "没有待处理的这个申请")
    if request.kind == "cancellation":
        raise Conflict("cancellation", "注销申请在审核期结束时自动处理，或由用户撤销")
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
