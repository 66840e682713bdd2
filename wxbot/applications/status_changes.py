"""Job applications: status changes from the platform become pushes, as the seeker chose.

A status change is stored once per event_id and pushed through the outbox in the same transaction; a
change older than the application's current status is recorded and not pushed, and a newer status
supersedes an older push not yet sent. The seeker's reminder choice (all, key, off) lives on the account
and in the consent ledger (status_reminders).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from wxbot import clock
from wxbot.applications.statuses import (
    CHANNELS,
    KEY_STATUSES,
    LABELS,
    STATUSES,
    URGENT_STATUSES,
    template_key,
)
from wxbot.config import Settings
from wxbot.db import is_mysql
from wxbot.errors import Conflict, Invalid
from wxbot.models.applications import Application, StatusChange
from wxbot.models.identity import REMINDER_CHOICES, Account, Identity
from wxbot.models.outbox import Notification
from wxbot.privacy import audit, consent
from wxbot.privacy import registry as rights
from wxbot.push import explain, policy
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue, skip

PURPOSE = "application_status"
FIELDS = ("event_id", "account_id", "application_id", "job_title", "company", "status", "changed_at")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_TEXT = 200


class InvalidField(Invalid):
    """A field of the platform's status change is missing (missing_field) or wrong (invalid_field)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(code, f"{field}: {message}", field=field)
        self.field = field


@dataclass(frozen=True)
class StatusEvent:
    event_id: str
    account_id: str
    application_id: str
    job_title: str
    company: str
    status: str
    changed_at: datetime  # naive UTC

    def body_hash(self) -> str:
        fields = {**asdict(self), "changed_at": self.changed_at.isoformat()}
        return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse_status_event(body: Mapping[str, Any]) -> StatusEvent:
    """Check a status change from the platform; InvalidField names the first field that is wrong."""
    for name in FIELDS:
        if body.get(name) is None or body.get(name) == "":
            raise InvalidField(name, "missing_field", "required")
    values = {name: _identifier(body[name], name) for name in ("event_id", "account_id", "application_id")}
    for name in ("job_title", "company"):
        values[name] = _text(body[name], name)
    status = body["status"]
    if not isinstance(status, str) or status not in STATUSES:
        raise InvalidField("status", "invalid_field", f"unknown status; one of {', '.join(STATUSES)}")
    return StatusEvent(status=status, changed_at=_timestamp(body["changed_at"]), **values)


def _identifier(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidField(name, "invalid_field", "a string or an integer")
    text = str(value)
    if not _ID.match(text):
        raise InvalidField(name, "invalid_field", "1-64 letters, digits or . _ : -")
    return text


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidField(name, "invalid_field", "a string")
    text = value.strip()
    if not text:
        raise InvalidField(name, "missing_field", "required")
    if len(text) > MAX_TEXT:
        raise InvalidField(name, "invalid_field", f"at most {MAX_TEXT} characters")
    if _CONTROL.search(text):
        raise InvalidField(name, "invalid_field", "no control characters or line breaks")
    return text


def _timestamp(value: Any) -> datetime:
    """ISO 8601 with a UTC offset (2026-11-28T16:00:00+08:00 or ...Z), to naive UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidField("changed_at", "invalid_field", "an ISO 8601 time with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise InvalidField("changed_at", "invalid_field", "an ISO 8601 time with a UTC offset") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidField("changed_at", "invalid_field", "needs a UTC offset (+08:00 or Z)")
    if not 2000 <= parsed.year <= 2100:
        raise InvalidField("changed_at", "invalid_field", "out of range")
    return parsed.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- recording a change


def record_status_change(
    session: Session, event: StatusEvent, *, settings: Settings
) -> tuple[StatusChange, bool]:
    """Store the change and enqueue its push, in the caller's transaction. Returns (change, created):
    a repeat of a stored event_id returns the stored change; with a different body it raises Conflict."""
    existing = _change_by_event(session, event.event_id)
    if existing is not None:
        return _same_or_conflict(existing, event), False
    account = _account(session, event.account_id)
    application, fresh = _application(session, event, account)
    if application.account_id != account.id:
        raise Conflict("conflict", f"application {event.application_id} belongs to another account")
    stale = not fresh and event.changed_at < application.status_changed_at
    unchanged = not fresh and not stale and application.status == event.status
    change = StatusChange(
        event_id=event.event_id,
        body_hash=event.body_hash(),
        application_id=application.id,
        status=event.status,
        changed_at=event.changed_at,
        stale=stale,
        unchanged=unchanged,
    )
    try:
        with session.begin_nested():
            session.add(change)
    except IntegrityError:
        # The same event_id, committed meanwhile by a concurrent request.
        session.expunge(change)
        existing = _change_by_event(session, event.event_id)
        if existing is None:
            raise
        return _same_or_conflict(existing, event), False
    if stale:
        return change, True
    application.status, application.status_changed_at = event.status, event.changed_at
    application.job_title, application.company = event.job_title, event.company
    if not unchanged:
        change.notification_id = _enqueue_push(session, application, change, settings).id
    session.flush()
    return change, True


def _same_or_conflict(existing: StatusChange, event: StatusEvent) -> StatusChange:
    if existing.body_hash != event.body_hash():
        raise Conflict("conflict", f"event {event.event_id} was received before with a different body")
    return existing


def _change_by_event(session: Session, event_id: str) -> StatusChange | None:
    return session.scalars(
        select(StatusChange)
        .where(StatusChange.event_id == event_id)
        .options(selectinload(StatusChange.application))
    ).first()


def _account(session: Session, platform_account_id: str) -> Account:
    """The account the platform names; created when the platform has not told us about it yet."""
    query = select(Account).where(Account.platform_account_id == platform_account_id)
    account = session.scalars(query).first()
    if account is not None:
        return account
    try:
        with session.begin_nested():
            account = Account(platform_account_id=platform_account_id)
            session.add(account)
    except IntegrityError:
        account = session.scalars(query).one()
    return account


def _application(session: Session, event: StatusEvent, account: Account) -> tuple[Application, bool]:
    """The application (and whether this event created it), locked on MySQL so that concurrent changes to
    one application are decided one after the other."""
    query = select(Application).where(Application.platform_application_id == event.application_id)
    if is_mysql(session):
        query = query.with_for_update()
    application = session.scalars(query).first()
    if application is not None:
        return application, False
    try:
        with session.begin_nested():
            created = Application(
                platform_application_id=event.application_id,
                account_id=account.id,
                job_title=event.job_title,
                company=event.company,
                status=event.status,
                status_changed_at=event.changed_at,
            )
            session.add(created)
    except IntegrityError:
        return session.scalars(query).one(), False
    return created, True


def _enqueue_push(
    session: Session, application: Application, change: StatusChange, settings: Settings
) -> Notification:
    tz = settings.app.timezone
    data = {
        "job_title": application.job_title,
        "company": application.company,
        "status": LABELS[change.status],
        "changed_at": clock.local_text(change.changed_at, tz, "%Y年%m月%d日 %H:%M"),
        "application_id": application.platform_application_id,
    }
    key = template_key(change.status)
    channels = tuple(settings.notify.status_channels.get(change.status) or CHANNELS)
    row = enqueue(
        session,
        purpose=PURPOSE,
        account_id=application.account_id,
        content=PushContent(template=TemplateContent(key, data), subscribe=SubscribeContent(key, data)),
        channels=channels,
        dedupe_key=f"application-status:{change.event_id}",
        urgent=change.status in URGENT_STATUSES,
        reminder="key" if change.status in KEY_STATUSES else "other",
        supersede_key=f"application:{application.id}",
        source_type="application_status_change",
        source_id=change.id,
    )
    unconfigured = [c for c in channels if not _has_template(settings, key, c)]
    if row.status == "pending" and len(unconfigured) == len(channels):
        # no app has a template for this status: say so now rather than when the sender finds nothing
        skip(row, "no_channel", "; ".join(f"{c}:no_template" for c in unconfigured))
    return row


def _has_template(settings: Settings, key: str, channel: str) -> bool:
    ns = settings.notify
    if channel == "subscribe":
        return any(ns.template(key, mp.name) is not None for mp in settings.wechat.miniprogram)
    lookup = ns.notice if channel == "oa_subscribe" else ns.template
    return any(lookup(key, oa.name) is not None for oa in settings.wechat.official)


def answer(change: StatusChange, tz: str) -> dict[str, Any]:
    """The platform's answer for a change: the event (the same for every repeat of its event_id) and where
    its push is now: queued (waiting, being sent, or sent), or not and why, in the seeker's words too."""
    outcome = explain_change(change, tz)
    notification = change.notification
    queued = notification is not None and notification.status not in NOT_QUEUED
    return {
        "event_id": change.event_id,
        "application_id": change.application.platform_application_id,
        "status": change.status,
        "queued": queued,
        "reason": None if queued else outcome["reason"],
        "explanation": outcome["explanation"],
    }


# a push in these states is not (or no longer) on its way
NOT_QUEUED = ("skipped", "superseded", "cancelled")


# ---------------------------------------------------------------- the seeker's choice


def reminder_choice(session: Session, account_id: int) -> str:
    account = session.get(Account, account_id)
    return account.reminder_pref if account is not None else "all"


def set_reminder_choice(session: Session, account_id: int, choice: str, *, channel: str) -> int:
    """Set the account's status reminders to all, key or off (channel: where the seeker chose, for the
    consent ledger). Takes effect at once: unsent pushes the new choice stops are skipped. Returns how many.

    The ledger holds one status_reminders consent, given while reminders are on; how many (all or key) is
    the account's reminder_pref."""
    if choice not in REMINDER_CHOICES:
        raise ValueError(f"reminder choice must be one of {REMINDER_CHOICES}")
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account {account_id}")
    previous = account.reminder_pref
    account.reminder_pref = choice
    session.flush()
    stopped = policy.apply_reminder_choice(session, account_id)
    if choice == "off":
        consent.withdraw(session, kind="status_reminders", account_id=account_id)
    else:
        consent.record(session, kind="status_reminders", channel=channel, account_id=account_id)
    if previous != choice:
        audit.log(
            session,
            actor=f"user:acc:{account_id}",
            action="reminders.set",
            subject_type="account",
            subject_id=account_id,
            detail=f"{previous} -> {choice} ({channel})",
        )
    return stopped


def _reminders_withdrawn(
    session: Session, account_id: int | None, identity_id: int | None, scope: str
) -> None:
    """The status_reminders consent was withdrawn (here, or through the privacy pages): reminders are off and
    unsent ones stop now."""
    if scope:
        return
    if account_id is None and identity_id is not None:
        identity = session.get(Identity, identity_id)
        account_id = identity.account_id if identity is not None else None
    account = session.get(Account, account_id) if account_id is not None else None
    if account is None:
        return
    account.reminder_pref = "off"
    session.flush()
    policy.apply_reminder_choice(session, account.id)


# ---------------------------------------------------------------- what the seeker (and the agent) sees


def explain_change(change: StatusChange, tz: str) -> dict[str, Any]:
    """The one answer to "why did or didn't I get this?" for a status change."""
    if change.stale:
        return {"outcome": "not_pushed", "reason": "stale", "channel": None, "at": None, "errcode": None,
                "explanation": "未推送：这条变更早于申请的当前状态"}  # fmt: skip
    if change.unchanged:
        return {"outcome": "not_pushed", "reason": "unchanged", "channel": None, "at": None, "errcode": None,
                "explanation": "未推送：状态没有变化"}  # fmt: skip
    notification = change.notification
    if notification is None:
        return {"outcome": "not_pushed", "reason": "erased", "channel": None, "at": None, "errcode": None,
                "explanation": "未推送：没有推送记录"}  # fmt: skip
    return explain.outcome(notification, tz)


def applications_of(session: Session, account_id: int, tz: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The account's applications, most recently changed first, each with its history and push answers."""
    applications = session.scalars(
        select(Application)
        .where(Application.account_id == account_id)
        .order_by(Application.status_changed_at.desc(), Application.id.desc())
        .limit(limit)
        .options(selectinload(Application.changes).selectinload(StatusChange.notification))
    )
    return [
        {
            "application_id": a.platform_application_id,
            "job_title": a.job_title,
            "company": a.company,
            "status": a.status,
            "status_label": LABELS[a.status],
            "status_changed_at": _local_iso(a.status_changed_at, tz),
            "history": [
                {
                    "status": c.status,
                    "status_label": LABELS[c.status],
                    "changed_at": _local_iso(c.changed_at, tz),
                    "push": explain_change(c, tz),
                }
                for c in sorted(a.changes, key=lambda c: (c.changed_at, c.id), reverse=True)
            ],
        }
        for a in applications
    ]


def _local_iso(at: datetime, tz: str) -> str:
    return clock.local_iso(at, tz) or ""


# ---------------------------------------------------------------- the users' rights


def _export(session: Session, account_id: int) -> dict[str, Any]:
    return {"reminder_choice": reminder_choice(session, account_id),
            "applications": applications_of(session, account_id, "Asia/Shanghai", limit=10_000)}  # fmt: skip


def _erase(session: Session, account_id: int) -> dict[str, int]:
    applications = list(session.scalars(select(Application).where(Application.account_id == account_id)))
    changes = 0
    for application in applications:
        changes += len(application.changes)
        for change in application.changes:
            session.delete(change)
        session.delete(application)
    session.flush()
    return {"applications": len(applications), "application_status_changes": changes}


PERSONAL_DATA = rights.DataDeclaration(
    "applications",
    _export,
    _erase,
    label="投递记录",
    tables=("applications", "application_status_changes"),
    withdrawals={"status_reminders": _reminders_withdrawn},
)
