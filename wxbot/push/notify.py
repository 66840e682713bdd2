"""The outbox, as domain code sees it: enqueue a message for a person in the caller's transaction, and
answer "why did or didn't I get this?". The sender (wxbot.push.outbox + jobs/sender.py) does the rest.

Rules that hold for every notification:
- `dedupe_key` is unique: enqueueing the same key again returns the first row, so retries never double.
- `supersede_key`: a newer notification replaces older ones with the same key that are not yet sent.
- `reminder` ("key" or "other") marks a reminder the account's choice governs (Account.reminder_pref:
  all lets both through, key only "key", off none); None: not a reminder (an answer the person waits for).
- `urgent`: sent at once; not urgent: held during the quiet hours and beyond the daily cap ([notify]).
- The channel is chosen when sending, in the order of `channels`: customer-service message while the reply
  window is open, template message where the person follows the official account, mini-program subscribe
  message where they have an unused authorisation; else skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.models.identity import Account
from wxbot.models.outbox import CHANNELS, OPEN_STATUSES, Notification, SubscribeGrant
from wxbot.privacy import registry as rights
from wxbot.privacy import retention
from wxbot.wechat.errors import REFUSED, UNFOLLOWED, WINDOW_CLOSED, WINDOW_SPENT

REMINDER_CLASSES = ("key", "other")
# The reminder choice -> the reminder classes it lets through.
CHOICE_ALLOWS: dict[str, frozenset[str]] = {
    "all": frozenset({"key", "other"}),
    "key": frozenset({"key"}),
    "off": frozenset(),
}
CONTENT_FOR_CHANNEL = {"custom": "text", "template": "template", "subscribe": "subscribe"}
CHANNEL_LABELS = {"custom": "公众号客服消息", "template": "公众号模板消息", "subscribe": "小程序订阅消息"}

# reason codes (Notification.reason) and what they mean to a person
REASONS: dict[str, str] = {
    "preference": "按提醒设置不发送",
    "no_channel": "没有可用的渠道",
    "superseded": "已被更新的状态取代",
    "quiet_hours": "免打扰时段",
    "daily_cap": "今日提醒已达上限",
    "paused": "微信今日发送额度已用完",
    "retrying": "微信暂时不可用，稍后重试",
    "gave_up": "多次重试仍失败",
    "wechat_error": "微信拒绝了这条消息",
    "bad_content": "消息内容不完整",
    "blocked_by_user": "用户已拒收公众号消息",
    "delivery_failed": "微信投递失败",
    "account_closed": "账号已注销",
    "cancelled": "已取消",
}
# why a channel could not be used (in Notification.detail / ended_channels)
CHANNEL_REASONS: dict[str, str] = {
    "window_closed": "客服消息窗口已关闭",
    "not_following": "未关注公众号",
    "no_template": "没有配置模板",
    "no_authorisation": "没有小程序订阅授权",
    "paused": "今日额度已用完",
    "no_identity": "没有可用的微信身份",
    str(UNFOLLOWED): "未关注公众号",
    str(REFUSED): "用户未授权或授权已用完",
    str(WINDOW_CLOSED): "客服消息窗口已关闭",
    str(WINDOW_SPENT): "客服消息条数已用完",
}


class EnqueueError(ValueError):
    """A programming error in the caller: the notification cannot be sent as described."""


def enqueue(
    session: Session,
    *,
    purpose: str,
    account_id: int | None = None,
    identity_id: int | None = None,
    content: Mapping[str, Any],
    channels: Iterable[str] = ("custom", "template", "subscribe"),
    dedupe_key: str | None = None,
    urgent: bool = False,
    source_type: str | None = None,
    source_id: str | int | None = None,
    supersede_key: str | None = None,
    reminder: str | None = None,
) -> Notification:
    """Add a notification to the outbox in the caller's transaction (the caller commits)."""
    channel_list = list(channels)
    if account_id is None and identity_id is None:
        raise EnqueueError("an account or an identity is needed")
    if (
        not channel_list
        or any(c not in CHANNELS for c in channel_list)
        or len(set(channel_list)) != len(channel_list)
    ):
        raise EnqueueError(f"channels must be distinct values of {CHANNELS}")
    for channel in channel_list:
        if not content.get(CONTENT_FOR_CHANNEL[channel]):
            raise EnqueueError(f"channel {channel} needs content[{CONTENT_FOR_CHANNEL[channel]!r}]")
    if reminder is not None and reminder not in REMINDER_CLASSES:
        raise EnqueueError(f"reminder must be one of {REMINDER_CLASSES} or None")
    if dedupe_key is not None:
        existing = _by_dedupe_key(session, dedupe_key)
        if existing is not None:
            return existing
    now = clock.now()
    row = Notification(
        purpose=purpose,
        account_id=account_id,
        identity_id=identity_id,
        content=dict(content),
        channels=",".join(channel_list),
        dedupe_key=dedupe_key,
        supersede_key=supersede_key,
        reminder=reminder,
        urgent=urgent,
        source_type=source_type,
        source_id=None if source_id is None else str(source_id),
        status="pending",
        next_attempt_at=now,
        attempts=0,
        ended_channels="",
    )
    if reminder is not None and account_id is not None:
        account = session.get(Account, account_id)
        choice = account.reminder_pref if account is not None else "all"
        if reminder not in CHOICE_ALLOWS.get(choice, CHOICE_ALLOWS["all"]):
            _finish(row, "skipped", "preference", f"reminder choice: {choice}")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # The same dedupe_key committed by a concurrent transaction: that one is the notification.
        if dedupe_key is None:
            raise
        existing = _by_dedupe_key(session, dedupe_key)
        if existing is None:
            raise
        return existing
    if supersede_key is not None:
        session.execute(
            update(Notification)
            .where(
                Notification.supersede_key == supersede_key,
                Notification.status.in_(OPEN_STATUSES),
                Notification.id != row.id,
            )
            .values(status="superseded", reason="superseded", next_attempt_at=None, detail=f"by #{row.id}")
            .execution_options(synchronize_session=False)
        )
    return row


def _by_dedupe_key(session: Session, key: str) -> Notification | None:
    return session.scalars(select(Notification).where(Notification.dedupe_key == key)).first()


def _finish(row: Notification, status: str, reason: str | None, detail: str | None = None) -> None:
    row.status, row.reason, row.detail, row.next_attempt_at = status, reason, detail, None


def apply_reminder_choice(session: Session, account_id: int) -> int:
    """The account's reminder choice changed: unsent reminders it no longer lets through are skipped now.
    Returns how many."""
    account = session.get(Account, account_id)
    if account is None:
        return 0
    allowed = CHOICE_ALLOWS.get(account.reminder_pref, CHOICE_ALLOWS["all"])
    blocked = [c for c in REMINDER_CLASSES if c not in allowed]
    if not blocked:
        return 0
    result = session.execute(
        update(Notification)
        .where(
            Notification.account_id == account_id,
            Notification.status.in_(OPEN_STATUSES),
            Notification.reminder.in_(blocked),
        )
        .values(
            status="skipped",
            reason="preference",
            next_attempt_at=None,
            detail=f"reminder choice: {account.reminder_pref}",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel(session: Session, notification: Notification, detail: str = "") -> bool:
    """Cancel a notification that is not yet sent; False when it is too late."""
    if notification.status not in OPEN_STATUSES:
        return False
    _finish(notification, "cancelled", "cancelled", detail or None)
    return True


# ---------------------------------------------------------------- quiet hours and days


def quiet_until(at: datetime, tz: str, start: str, end: str) -> datetime | None:
    """When the quiet hours around `at` end (naive UTC), or None outside them. start/end are HH:MM local;
    start after end spans midnight (22:00-08:00)."""
    if not start or not end:
        return None
    local = clock.to_local(at, tz)
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    now_t = local.time()
    if begin == finish:
        return None
    if begin < finish:
        inside = begin <= now_t < finish
        end_day = local.date()
    else:
        inside = now_t >= begin or now_t < finish
        end_day = local.date() + timedelta(days=1) if now_t >= begin else local.date()
    if not inside:
        return None
    return clock.to_utc(datetime.combine(end_day, finish, tzinfo=clock.local_zone(tz)))


# ---------------------------------------------------------------- subscribe authorisations


def record_grant(session: Session, identity_id: int, template_id: str, *, source: str) -> SubscribeGrant:
    """The person accepted one send of `template_id` (source: client | event). The client's report and
    WeChat's event for the same tap arrive within moments of each other: they make one grant."""
    now = clock.now()
    mine, theirs = (
        (SubscribeGrant.client_reported_at, SubscribeGrant.event_reported_at)
        if source == "client"
        else (SubscribeGrant.event_reported_at, SubscribeGrant.client_reported_at)
    )
    twin = session.scalars(
        select(SubscribeGrant)
        .where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.template_id == template_id,
            mine.is_(None),
            theirs >= now - timedelta(minutes=5),
            SubscribeGrant.revoked_at.is_(None),
        )
        .order_by(SubscribeGrant.id)
        .limit(1)
    ).first()
    if twin is not None:
        setattr(twin, mine.key, now)
        return twin
    grant = SubscribeGrant(identity_id=identity_id, template_id=template_id, **{mine.key: now})
    session.add(grant)
    session.flush()
    return grant


def revoke_grants(session: Session, identity_id: int, template_id: str) -> int:
    """The person turned the template off: their unused authorisations for it are gone."""
    result = session.execute(
        update(SubscribeGrant)
        .where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.template_id == template_id,
            SubscribeGrant.used_at.is_(None),
            SubscribeGrant.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def unused_grants(session: Session, identity_id: int) -> dict[str, int]:
    """template_id -> how many unused authorisations the identity holds."""
    rows = session.scalars(
        select(SubscribeGrant).where(
            SubscribeGrant.identity_id == identity_id,
            SubscribeGrant.used_at.is_(None),
            SubscribeGrant.revoked_at.is_(None),
        )
    )
    counts: dict[str, int] = {}
    for grant in rows:
        counts[grant.template_id] = counts.get(grant.template_id, 0) + 1
    return counts


# ---------------------------------------------------------------- delivery reports


TEMPLATE_FINISH_STATUSES = {
    "success": ("delivered", None),
    "failed:user block": ("failed", "blocked_by_user"),
    "failed: system failed": ("failed", "delivery_failed"),
}


def template_job_finished(session: Session, app_name: str, msgid: str, status: str) -> Notification | None:
    """TEMPLATESENDJOBFINISH: WeChat says what became of template message `msgid`."""
    row = session.scalars(
        select(Notification).where(Notification.sent_app == app_name, Notification.msgid == msgid)
    ).first()
    if row is None or row.status not in ("sent", "delivered", "failed"):
        return None
    normalised = " ".join(status.strip().lower().split())
    result = TEMPLATE_FINISH_STATUSES.get(normalised)
    if result is None:
        # an unlisted failure text ("failed:freq limit", ...): failed, in WeChat's words
        result = ("failed", "delivery_failed") if normalised.startswith("failed") else ("delivered", None)
    row.status, row.reason = result
    if result[0] == "delivered":
        row.delivered_at = clock.now()
    else:
        row.detail = normalised[:255]
    return row


# ---------------------------------------------------------------- why did or didn't I get this?


def outcome(notification: Notification, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """The answer as data: {"outcome", "channel", "at", "reason", "errcode", "explanation"}."""
    n = notification
    at = {
        "sent": n.sent_at,
        "delivered": n.delivered_at or n.sent_at,
        "held": n.next_attempt_at,
        "pending": n.next_attempt_at,
    }.get(n.status, n.updated_at)
    return {
        "outcome": n.status,
        "channel": n.channel if n.status in ("sent", "delivered", "failed", "sending") else None,
        "at": clock.local_iso(at, tz),
        "reason": n.reason,
        "errcode": n.errcode,
        "explanation": explain(n, tz),
    }


def history(
    session: Session, account_id: int, tz: str = "Asia/Shanghai", *, limit: int = 50
) -> list[dict[str, Any]]:
    """The account's latest notifications with their answers, newest first (the console's account page)."""
    rows = session.scalars(
        select(Notification)
        .where(Notification.account_id == account_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return [
        {"id": n.id, "purpose": n.purpose, "created_at": clock.local_iso(n.created_at, tz), **outcome(n, tz)}
        for n in rows
    ]


def explain(notification: Notification, tz: str = "Asia/Shanghai") -> str:
    """One sentence for the person (or the agent looking at their account): what happened and why."""
    n = notification
    channel = CHANNEL_LABELS.get(n.channel or "", n.channel or "")
    when = clock.local_text(n.next_attempt_at, tz)
    match n.status:
        case "sent":
            return f"已通过{channel}发送（{clock.local_text(n.sent_at, tz)}）"
        case "delivered":
            return f"已通过{channel}送达（{clock.local_text(n.delivered_at or n.sent_at, tz)}）"
        case "sending":
            return "正在发送"
        case "held":
            return f"{REASONS.get(n.reason or '', '暂缓发送')}，将于 {when} 发送"
        case "pending" if n.reason in ("retrying", "paused"):
            code = f"（错误码 {n.errcode}）" if n.errcode else ""
            return f"{REASONS[n.reason or '']}{code}，将于 {when} 再试"
        case "pending":
            return "排队等待发送"
        case "skipped" if n.reason == "no_channel":
            return f"未发送：没有可用的渠道（{_channel_reasons(n.detail)}）"
        case "skipped" | "superseded" | "cancelled":
            return f"未发送：{REASONS.get(n.reason or '', n.reason or '')}"
        case "failed" if n.reason in ("wechat_error", "gave_up"):
            return f"发送失败：{REASONS[n.reason or '']}（{channel} 错误码 {n.errcode}）"
        case "failed":
            return f"发送失败：{REASONS.get(n.reason or '', n.reason or '')}"
    return n.status


def _channel_reasons(detail: str | None) -> str:
    parts = []
    for item in (detail or "").split(";"):
        channel, _, why = item.strip().partition(":")
        if channel:
            label = CHANNEL_LABELS.get(channel, channel)
            parts.append(f"{label}：{CHANNEL_REASONS.get(why, why)}")
    return "；".join(parts) or "未配置渠道"


# ---------------------------------------------------------------- the users' rights


def _export(session: Session, account_id: int) -> dict[str, Any]:
    from wxbot.models.identity import Identity

    identity_ids = list(session.scalars(select(Identity.id).where(Identity.account_id == account_id)))
    rows = session.scalars(
        select(Notification).where(Notification.account_id == account_id).order_by(Notification.id)
    )
    return {"notifications": _describe(rows), "subscribe_authorisations": _grants(session, identity_ids)}


def _export_identities(session: Session, identity_ids: list[int]) -> dict[str, Any]:
    rows = session.scalars(
        select(Notification).where(Notification.identity_id.in_(identity_ids)).order_by(Notification.id)
    )
    return {"notifications": _describe(rows), "subscribe_authorisations": _grants(session, identity_ids)}


def _describe(rows: Iterable[Notification]) -> list[dict[str, Any]]:
    return [
        {"purpose": n.purpose, "created_at": n.created_at.isoformat(), "content": n.content, **outcome(n)}
        for n in rows
    ]


def _grants(session: Session, identity_ids: list[int]) -> list[dict[str, Any]]:
    grants = session.scalars(select(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids)))
    return [
        {
            "template_id": g.template_id,
            "granted_at": g.created_at.isoformat(),
            "used_at": g.used_at.isoformat() if g.used_at else None,
            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        }  # fmt: skip
        for g in grants
    ]


def _erase(session: Session, account_id: int) -> dict[str, int]:
    from sqlalchemy import delete

    from wxbot.models.identity import Identity
    from wxbot.models.outbox import DailyCount

    identity_ids = select(Identity.id).where(Identity.account_id == account_id)
    grants = session.execute(
        delete(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids))
    ).rowcount  # type: ignore[attr-defined]
    rows = session.execute(
        delete(Notification).where(
            (Notification.account_id == account_id) | Notification.identity_id.in_(identity_ids)
        )
    ).rowcount  # type: ignore[attr-defined]
    session.execute(delete(DailyCount).where(DailyCount.account_id == account_id))
    return {"notifications": int(rows), "subscribe_authorisations": int(grants)}


def _erase_identities(session: Session, identity_ids: list[int]) -> dict[str, int]:
    from sqlalchemy import delete

    grants = session.execute(
        delete(SubscribeGrant).where(SubscribeGrant.identity_id.in_(identity_ids))
    ).rowcount  # type: ignore[attr-defined]
    rows = session.execute(delete(Notification).where(Notification.identity_id.in_(identity_ids))).rowcount  # type: ignore[attr-defined]
    return {"notifications": int(rows), "subscribe_authorisations": int(grants)}


def _purge(session: Session, cutoff: datetime) -> retention.Purged:
    """Push records older than the retention period, once they are final (never one still to be sent)."""
    from sqlalchemy import delete

    gone = session.execute(
        delete(Notification).where(Notification.created_at < cutoff, Notification.next_attempt_at.is_(None))
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        delete(SubscribeGrant).where(
            SubscribeGrant.created_at < cutoff,
            (SubscribeGrant.used_at.is_not(None)) | (SubscribeGrant.revoked_at.is_not(None)),
        )
    )
    return retention.Purged(deleted=int(gone))


PERSONAL_DATA = rights.DataDeclaration(
    "notifications",
    _export,
    _erase,
    label="消息推送记录",
    tables=("notifications", "subscribe_grants"),
    export_identities=_export_identities,
    erase_identities=_erase_identities,
    retention=(
        retention.RetentionRule(
            "notifications", _purge, "push records (outbox rows) once final, from creation"
        ),
    ),
)
