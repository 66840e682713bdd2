"""Recording what WeChat answered: the result of each send of a claim (sent, retried, the next channel,
failed), the API paused when WeChat limits it (wxbot.push.limits), and WeChat's later delivery reports.

WeChat's errors (wechat-platform.md §9): some are worth another try later, some end one channel for the
notification (the next is tried), the rest fail it; a quota or minute limit pauses that API of that app.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from wxbot import clock, metrics
from wxbot.config import Settings
from wxbot.config.schema import NotifySettings
from wxbot.models.identity import Identity
from wxbot.models.outbox import Notification, SubscribeGrant
from wxbot.push import app_health, grants, limits
from wxbot.push.sender import UNKEYED_CHANNELS, Send
from wxbot.wechat.errors import (
    ALREADY_SENT,
    DAILY_QUOTA,
    MINUTE_LIMIT,
    REFUSED,
    SYSTEM_BUSY,
    TOKEN_ERRORS,
    UNFOLLOWED,
    WINDOW_CLOSED,
    WINDOW_SPENT,
    WeChatError,
    WeChatUnavailable,
)

log = logging.getLogger(__name__)

# WeChat errors worth another try later (wechat-platform.md §9); token errors only reach us when the
# facade's own refresh-and-retry did not help.
RETRYABLE = frozenset({SYSTEM_BUSY, MINUTE_LIMIT}) | TOKEN_ERRORS
# errcode -> the channels it ends for this notification (the next channel is tried)
CHANNEL_ENDING = {
    UNFOLLOWED: frozenset({"template", "oa_subscribe"}),
    REFUSED: frozenset({"subscribe", "oa_subscribe"}),
    WINDOW_CLOSED: frozenset({"custom"}),
    WINDOW_SPENT: frozenset({"custom"}),
}


@dataclass
class Result:
    """What WeChat answered for one send (or the error it raised)."""

    send: Send
    answer: dict[str, Any] | None = None
    error: Exception | None = None


@dataclass
class Summary:
    """What record() made of a claim's results."""

    sent: int = 0
    retrying: int = 0
    next_channel: int = 0
    failed: int = 0
    unknown: int = 0  # a customer-service send without an answer: not repeated
    lost: int = 0  # the claim had expired and another sender took the row


def backoff(ns: NotifySettings, attempts: int, errcode: int | None) -> timedelta:
    """Exponential, capped, with a little jitter so that a burst of failures does not retry in step."""
    seconds = min(ns.retry_max_seconds, ns.retry_base_seconds * 2 ** max(attempts - 1, 0))
    if errcode == MINUTE_LIMIT:
        seconds = max(seconds, 60.0)
    return timedelta(seconds=seconds * (1 + 0.2 * random.random()))


def record(session: Session, settings: Settings, token: str, results: Sequence[Result]) -> Summary:
    """Write what WeChat answered for each send of claim `token`. The caller commits."""
    now = clock.now()
    summary = Summary()
    sent = [r for r in results if r.error is None]
    if sent:
        # One UPDATE per (channel, app) for the whole batch; the per-row values are integers and digit strings
        # we checked, written as CASE literals (a statement per row costs a round trip each).
        groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for r in sent:
            groups[(r.send.channel, r.send.app_name)].append(r)
        done = 0
        for (channel, app_name), group in groups.items():
            stmt = (
                update(Notification)
                .where(
                    Notification.id.in_([r.send.notification_id for r in group]),
                    Notification.claim_token == token,
                    Notification.status == "sending",
                )
                .values(
                    status="sent",
                    sent_at=now,
                    channel=channel,
                    sent_app=app_name,
                    msgid=_case_by_id((r.send.notification_id, _msgid(r.answer)) for r in group),
                    sent_identity_id=_case_by_id((r.send.notification_id, r.send.identity_id) for r in group),
                    next_attempt_at=None,
                    claim_token=None,
                    reason=None,
                    detail=None,
                    errcode=None,
                )
                .execution_options(synchronize_session=False)
            )
            changed = int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
            metrics.SENDS.labels(channel, "sent").inc(changed)
            done += changed
        summary.sent = done
        for app_name in {r.send.app_name for r in sent}:
            app_health.token_worked(session, app_name)
        if done != len(sent):
            summary.lost += len(sent) - done
            log.warning("%d sent notifications had lost their claim (lease too short?)", len(sent) - done)
    for result in results:
        if result.error is not None:
            _record_failure(session, settings, token, result.send, result.error, now, summary)
    return summary


def _msgid(answer: dict[str, Any] | None) -> str | None:
    value = str((answer or {}).get("msgid", ""))
    return value if value.isdigit() and len(value) <= 32 else None


def _case_by_id(pairs: Iterable[tuple[int, int | str | None]]) -> Any:
    """CASE id WHEN 1 THEN ... END from integer ids and integer or digit-string values (never free text)."""
    whens = []
    for row_id, value in pairs:
        if value is None:
            literal = "NULL"
        elif isinstance(value, int):
            literal = str(int(value))
        elif value.isdigit():
            literal = f"'{value}'"
        else:
            raise ValueError("only integers and digit strings")
        whens.append(f"WHEN {int(row_id)} THEN {literal}")
    return literal_column(f"CASE id {' '.join(whens)} END")


def _record_failure(
    session: Session,
    settings: Settings,
    token: str,
    send: Send,
    error: Exception,
    now: datetime,
    summary: Summary,
) -> None:
    ns = settings.notify
    errcode = error.errcode if isinstance(error, WeChatError) else None
    unsure = isinstance(error, WeChatUnavailable) and error.unsure
    values: dict[str, Any] = {
        "claim_token": None,
        "errcode": errcode,
        "channel": send.channel,
        "sent_app": send.app_name,
        "sent_identity_id": send.identity_id,
    }
    if not unsure:
        values["unsure_since"] = send.unsure_before  # this send's outcome is known: as unsure as before it
    if (
        send.grant_id is not None
        and not unsure
        and (errcode is None or errcode in RETRYABLE or errcode == DAILY_QUOTA)
    ):
        # (after an unsure send the grant stays reserved: WeChat may have spent it, the repeat needs it)
        _release_grant(session, send.grant_id)
    limits.pause(session, send.app_name, send.channel, errcode, now, settings.app.timezone)
    if errcode in TOKEN_ERRORS:  # the facade refreshed and retried already: the token itself is refused
        app_health.token_failed(session, settings, send.app_name, errcode, now)
    if isinstance(error, WeChatError):  # WeChat's rid, for its support, with the push it concerns
        log.info("push %d: %s answered %s", send.notification_id, send.channel, error.summary())
    if unsure and send.channel in UNKEYED_CHANNELS:
        values.update(status="unknown", next_attempt_at=None, reason="delivery_unknown",
                      detail=f"{send.channel}: {error}"[:255])  # fmt: skip
        summary.unknown += 1
    elif errcode == ALREADY_SENT and send.channel == "template":
        # "duplicate in 60 s": WeChat has this message already; sending it again would not deliver it twice
        values.update(status="sent", sent_at=now, next_attempt_at=None, reason="already_sent",
                      detail=f"template: {ALREADY_SENT}")  # fmt: skip
        summary.sent += 1
    elif errcode == DAILY_QUOTA:
        values.update(
            status="pending", next_attempt_at=now, reason="paused", detail=_detail(send.channel, error)
        )
        summary.next_channel += 1
    elif send.channel in CHANNEL_ENDING.get(errcode or 0, ()):
        if errcode == UNFOLLOWED:
            _mark_unfollowed(session, send.identity_id, now)
        if errcode == REFUSED and send.template_id:
            # 43101: WeChat holds no authorisation of theirs for it; the reserved one stays spent
            grants.revoke_grants(session, send.identity_id, send.template_id)
        ended = ",".join(x for x in (send.ended, f"{send.channel}:{errcode}") if x)
        values.update(status="pending", next_attempt_at=now, ended_channels=ended, reason=None, detail=None)
        summary.next_channel += 1
    elif errcode is None or errcode in RETRYABLE:
        if send.attempts >= ns.max_attempts:
            values.update(
                status="failed",
                next_attempt_at=None,
                reason="gave_up",
                detail=_detail(send.channel, error),
            )
            summary.failed += 1
        else:
            values.update(
                status="pending",
                next_attempt_at=now + backoff(ns, send.attempts, errcode),
                reason="retrying",
                detail=_detail(send.channel, error),
            )
            summary.retrying += 1
    else:
        values.update(
            status="failed", next_attempt_at=None, reason="wechat_error", detail=_detail(send.channel, error)
        )
        summary.failed += 1
    changed = session.execute(
        update(Notification)
        .where(
            Notification.id == send.notification_id,
            Notification.claim_token == token,
            Notification.status == "sending",
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not changed:
        summary.lost += 1
    else:  # the result as the row's reason names it; a channel that ended hands the row to the next one
        metrics.SENDS.labels(send.channel, values.get("reason") or "next_channel").inc()


def _detail(channel: str, error: Exception) -> str:
    """The recorded reason: the channel, WeChat's errcode and errmsg with its rid kept whole (an operator
    quotes it to WeChat's support), or what kept the answer from us."""
    prefix = f"{channel}: "
    what = error.summary(255 - len(prefix)) if isinstance(error, WeChatError) else str(error)
    return (prefix + what)[:255]


# ---------------------------------------------------------------- while a claim is out


def dispatching(session: Session, token: str, send: Send) -> bool:
    """Just before a customer-service send: the row is unsure from now until WeChat answers. False when the
    claim is lost (do not send). The caller commits."""
    changed = session.execute(
        update(Notification)
        .where(
            Notification.id == send.notification_id,
            Notification.claim_token == token,
            Notification.status == "sending",
        )
        .values(unsure_since=func.coalesce(Notification.unsure_since, clock.now()))
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def renew(session: Session, settings: Settings, tokens: Sequence[str]) -> int:
    """Extend the lease of the rows these claims still hold; how many. The caller commits."""
    return int(
        session.execute(
            update(Notification)
            .where(Notification.claim_token.in_(tokens), Notification.status == "sending")
            .values(next_attempt_at=clock.now() + timedelta(seconds=settings.notify.lease_seconds))
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    )


def release(session: Session, token: str, sends: Sequence[Send]) -> None:
    """Sends that were not made (the sender stopped): due again now, as if never claimed. The caller commits."""
    for send in sends:
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": clock.now(), "claim_token": None,
                                  "attempts": Notification.attempts - 1, "unsure_since": send.unsure_before}  # fmt: skip
        session.execute(
            update(Notification)
            .where(
                Notification.id == send.notification_id,
                Notification.claim_token == token,
                Notification.status == "sending",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if send.grant_id is not None and send.unsure_before is None:
            _release_grant(session, send.grant_id)


def _release_grant(session: Session, grant_id: int) -> None:
    session.execute(
        update(SubscribeGrant)
        .where(SubscribeGrant.id == grant_id)
        .values(used_at=None, notification_id=None)
        .execution_options(synchronize_session=False)
    )


def _mark_unfollowed(session: Session, identity_id: int, now: datetime) -> None:
    session.execute(
        update(Identity)
        .where(Identity.id == identity_id, Identity.subscribed.is_(True))
        .values(subscribed=False, unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- delivery reports


TEMPLATE_FINISH_STATUSES = {
    "success": ("delivered", None),
    "failed:user block": ("failed", "blocked_by_user"),
    "failed: system failed": ("failed", "delivery_failed"),
}


def _finished(
    session: Session, app_name: str, msgid: str, status: str, reason: str | None, detail: str
) -> bool:
    """A template's delivery report applied to the outbox row it names, in one statement (no read first):
    only a row WeChat took (sent) or reported on before changes, and not one WeChat intercepted (its
    interception list outranks its delivery report). True when a row changed."""
    values: dict[str, Any] = {"status": status, "reason": reason}
    if status == "delivered":
        values["delivered_at"] = clock.now()
    else:
        values["detail"] = detail[:255]
    changed = session.execute(
        update(Notification)
        .where(
            Notification.sent_app == app_name,
            Notification.msgid == msgid,
            Notification.status.in_(("sent", "delivered", "failed")),
            or_(Notification.reason.is_(None), Notification.reason != "intercepted"),
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def template_job_finished(session: Session, app_name: str, msgid: str, status: str) -> bool:
    """TEMPLATESENDJOBFINISH: WeChat says what became of template message `msgid`."""
    normalised = " ".join(status.strip().lower().split())
    result = TEMPLATE_FINISH_STATUSES.get(normalised)
    if result is None:
        # an unlisted failure text ("failed:freq limit", ...): failed, in WeChat's words
        result = ("failed", "delivery_failed") if normalised.startswith("failed") else ("delivered", None)
    return _finished(session, app_name, msgid, result[0], result[1], normalised)


def notice_sent(
    session: Session, app_name: str, msgid: str, errorcode: str, status: str
) -> Notification | None:
    """subscribe_msg_sent_event: WeChat says what became of 订阅通知 `msgid` (ErrorCode "0": delivered; else
    failed, in WeChat's words: ErrorStatus "failed:user block" and the like)."""
    row = session.scalars(
        select(Notification).where(
            Notification.sent_app == app_name,
            Notification.msgid == msgid,
            Notification.channel == "oa_subscribe",
        )
    ).first()
    if row is None or row.status not in ("sent", "delivered", "failed"):
        return None
    if errorcode == "0":
        row.status, row.reason, row.delivered_at = "delivered", None, clock.now()
    else:
        normalised = " ".join(status.strip().lower().split())
        numeric = errorcode.lstrip("-").isdigit() and len(errorcode) <= 9
        row.status, row.errcode = "failed", int(errorcode) if numeric else None
        row.reason = "blocked_by_user" if "user block" in normalised else "delivery_failed"
        row.detail = f"oa_subscribe: {normalised or errorcode}"[:255]
    return row
