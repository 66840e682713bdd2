"""The sender's side of the outbox: claim due notifications and turn each into one WeChat call.

One round of the sender (jobs/sender.py) is: claim() in one transaction -> the WeChat calls (wechat_call),
concurrently, outside any transaction -> wxbot.push.results.record() of each answer as it comes (in small
groups). claim() marks the rows `sending` with a short lease (next_attempt_at = end of the lease) and a claim
token; the sender renews the lease while it works (results.renew); if it dies, the rows come back when the
lease ends, and record() only touches rows that still carry its token.

Order: a recipient's rows (Notification.lane) go out one at a time, in the order queued: a row is handed
out only when no earlier row of its lane is in flight or waiting (LANE_BLOCKING, or held and due).

Unsure sends (Notification.unsure_since: a timeout, or a sender that died with the row): a template or
subscribe message carries client_msg_id (the row id), so WeChat drops a repeat within its 10 minutes; it is
sent again within that window, and after it marked `unknown`. A customer-service message and a 订阅通知
(bizsend documents no client_msg_id) have no such key: a send begun without a known outcome is never
repeated by the sender; the row becomes `unknown` and a person decides (results.resend).

Claiming uses SELECT ... FOR UPDATE SKIP LOCKED on MySQL/MariaDB, so any number of senders share the queue;
on SQLite the caller holds a cache lock (one claimer) and BEGIN IMMEDIATE serialises the transaction anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from wxbot import clock, metrics
from wxbot.config import Settings
from wxbot.conversations import reply_window
from wxbot.db import is_mysql
from wxbot.models.outbox import LANE_BLOCKING, Notification, SubscribeGrant
from wxbot.push import limits, policy
from wxbot.push.enqueue import CONTENT_FOR_CHANNEL
from wxbot.push.planning import NO_AUTHORISATION, Candidate, People, Plan, ended_list, plan_channels
from wxbot.push.template_fields import PLACEHOLDER, MissingTemplateData, render_fields

CUSTOM_TEXT_LIMIT = 600  # characters; WeChat refuses text over about 2048 bytes (45002)
# WeChat keeps one message per openid and client_msg_id this long (wechat-platform.md §12); an unsure send
# is repeated only well inside it (our clock and WeChat's may differ, and the first send took time too).
CLIENT_MSG_ID_WINDOW = timedelta(minutes=10)
RESEND_WITHIN = CLIENT_MSG_ID_WINDOW - timedelta(minutes=1)
# channels whose API takes no client_msg_id: an unsure send of theirs is never repeated blindly
UNKEYED_CHANNELS = frozenset({"custom", "oa_subscribe"})


@dataclass
class Send:
    """One WeChat call a claimed notification needs."""

    notification_id: int
    channel: str
    app_name: str
    identity_id: int
    openid: str
    attempts: int
    ended: str  # the row's ended_channels
    template_id: str | None = None
    data: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    page: str | None = None
    url: str | None = None
    miniprogram: dict[str, str] | None = None
    grant_id: int | None = None
    unsure_before: datetime | None = None  # the row's unsure_since before this claim

    @property
    def client_msg_id(self) -> str:
        # the 防重入 id of template and subscribe sends, the same for every try of one notification: WeChat
        # keeps one message per openid and id for 10 minutes, so a repeat after an unsure send is dropped
        return f"wxbot-{self.notification_id}"


@dataclass
class Claim:
    """One claimed batch: the sends it needs, under one claim token."""

    token: str
    sends: list[Send] = field(default_factory=list)
    settled: int = 0  # rows decided without a send (held, skipped, failed)


# ---------------------------------------------------------------- claim


def claim(session: Session, settings: Settings, *, limit: int) -> Claim:
    """Claim up to `limit` due notifications and decide each: a Send, or held / skipped / failed now.
    The caller commits (and must hold the claim lock on SQLite)."""
    now = clock.now()
    ns = settings.notify
    stmt = (
        select(Notification)
        .where(Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if is_mysql(session):
        # Walk the due-time index: with a full scan (the optimiser's choice when most rows are due) the
        # claim would lock every due row, and concurrent senders would find nothing left to skip to.
        stmt = stmt.with_hint(
            Notification, "FORCE INDEX (ix_notifications_next_attempt_at)", "mysql"
        ).with_for_update(skip_locked=True)
    rows = _lane_heads(session, list(session.scalars(stmt)), now)
    result = Claim(token=uuid.uuid4().hex)
    if not rows:
        return result
    people = People.load(session, rows)
    pauses = limits.active(session, now)  # by app and channel: WeChat limits each API on its own
    plans: list[Plan] = []
    for row in rows:
        if row.unsure_since is not None and (
            row.channel in UNKEYED_CHANNELS or now - row.unsure_since >= RESEND_WITHIN
        ):
            # WeChat may have delivered it and would not drop a repeat: a person decides
            _settle(row, "unknown", "delivery_unknown", f"{row.channel}: no answer from WeChat", result)
            continue
        if row.status == "sending" and row.attempts >= ns.max_attempts:
            _settle(row, "failed", "gave_up", f"claim lost {row.attempts} times", result)
            continue
        account = people.accounts.get(row.account_id or -1)
        if account is not None and account.status != "active":
            _settle(row, "skipped", "account_closed", None, result)
            continue
        if row.reminder is not None:
            choice = account.reminder_pref if account is not None else "all"
            if not policy.reminder_allowed(row.reminder, choice):
                _settle(row, "skipped", "preference", f"reminder choice: {choice}", result)
                continue
        if not row.urgent:
            until = policy.quiet_until(now, settings.app.timezone, ns.quiet_hours_start, ns.quiet_hours_end)
            if until is not None:
                _hold(row, "quiet_hours", until, result)
                continue
        plan = plan_channels(session, settings, row, people, pauses)
        if not plan.candidates:
            if plan.paused_until is not None:
                row.status, row.reason, row.next_attempt_at = "pending", "paused", plan.paused_until
                row.claim_token = None
                result.settled += 1
            else:
                detail = "; ".join([*ended_list(row), *plan.why_not])
                _settle(row, "skipped", "no_channel", detail[:255], result)
            continue
        plans.append(plan)
    over_cap, counters = policy.over_daily_cap(session, settings, [plan.row for plan in plans], now)
    if over_cap:
        midnight = clock.next_local_midnight(now, settings.app.timezone)
        for plan in plans:
            if plan.row.id in over_cap:
                _hold(plan.row, "daily_cap", midnight, result)
        plans = [plan for plan in plans if plan.row.id not in over_cap]
    claimed: dict[str, list[int]] = {}
    for plan in plans:
        send = _commit_to_channel(session, settings, plan, result)
        if send is None:
            continue
        row = plan.row
        send.attempts = row.attempts + 1
        send.unsure_before = row.unsure_since
        claimed.setdefault(send.channel, []).append(row.id)
        result.sends.append(send)
        if policy.capped(row, ns) and send.attempts == 1:
            counters[row.account_id or 0].count += 1
    session.flush()
    for channel, ids in claimed.items():
        # One statement per channel for the whole batch; these rows are not touched through the ORM afterwards.
        values: dict[str, Any] = {
            "status": "sending",
            "claim_token": result.token,
            "next_attempt_at": now + timedelta(seconds=ns.lease_seconds),
            "attempts": Notification.attempts + 1,
            "channel": channel,
        }
        if channel not in UNKEYED_CHANNELS:
            # unsure from now until WeChat answers (an unkeyed send marks itself: results.dispatching)
            values["unsure_since"] = func.coalesce(Notification.unsure_since, now)
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return result


def _lane_heads(session: Session, rows: list[Notification], now: datetime) -> list[Notification]:
    """The rows that are first in their lane: no earlier row of the recipient is in flight or waiting."""
    lanes = {row.lane for row in rows if row.lane is not None}
    if not lanes:
        return rows
    heads = dict(
        session.execute(  # type: ignore[arg-type]
            select(Notification.lane, func.min(Notification.id))
            .where(
                Notification.lane.in_(lanes),
                or_(
                    Notification.status.in_(LANE_BLOCKING),
                    and_(Notification.status == "held", Notification.next_attempt_at <= now),
                ),
            )
            .group_by(Notification.lane)
        ).all()
    )
    return [row for row in rows if row.lane is None or heads.get(row.lane) == row.id]


def _settle(row: Notification, status: str, reason: str, detail: str | None, claim_: Claim) -> None:
    row.status, row.reason, row.detail = status, reason, detail
    row.next_attempt_at, row.claim_token = None, None
    claim_.settled += 1


def _hold(row: Notification, reason: str, until: datetime, claim_: Claim) -> None:
    row.status, row.reason, row.next_attempt_at, row.claim_token = "held", reason, until, None
    claim_.settled += 1
    metrics.PUSHES_HELD.labels(reason).inc()


def _commit_to_channel(session: Session, settings: Settings, plan: Plan, claim_: Claim) -> Send | None:
    """Take the first candidate whose side effect succeeds (a window message, an authorisation)."""
    row = plan.row
    why_not = list(plan.why_not)
    for candidate in plan.candidates:
        identity = candidate.identity
        if candidate.channel == "custom" and not (
            row.window_reserved or reply_window.consume(session, identity.id)
        ):
            why_not.append("custom:window_closed")
            continue
        grant_id = None
        if candidate.channel in ("subscribe", "oa_subscribe") and not candidate.long_term:
            grant_id = _reserve_grant(session, row.id, candidate.grant_ids)
            if grant_id is None:
                why_not.append(f"{candidate.channel}:{NO_AUTHORISATION[candidate.channel]}")
                continue
        try:
            return _build_send(settings, row, candidate, grant_id)
        except MissingTemplateData as exc:
            _settle(row, "failed", "bad_content", f"{candidate.channel}: data lacks {exc.args[0]}", claim_)
            return None
    _settle(row, "skipped", "no_channel", "; ".join([*ended_list(row), *why_not])[:255], claim_)
    return None


def _reserve_grant(session: Session, notification_id: int, grant_ids: list[int]) -> int | None:
    now = clock.now()
    for grant_id in grant_ids:
        taken = session.execute(
            update(SubscribeGrant)
            .where(
                SubscribeGrant.id == grant_id,
                SubscribeGrant.revoked_at.is_(None),
                (SubscribeGrant.used_at.is_(None)) | (SubscribeGrant.notification_id == notification_id),
            )
            .values(used_at=now, notification_id=notification_id)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            return grant_id
    return None


def _fill(text: str, data: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: str(data.get(m.group(1), "")), text)


def _build_send(settings: Settings, row: Notification, candidate: Candidate, grant_id: int | None) -> Send:
    identity = candidate.identity
    send = Send(
        notification_id=row.id,
        channel=candidate.channel,
        app_name=identity.app_name,
        identity_id=identity.id,
        openid=identity.openid,
        attempts=row.attempts,
        ended=row.ended_channels,
        grant_id=grant_id,
    )
    if candidate.channel == "custom":
        if row.content.get("image"):  # uploaded to WeChat when queued (wxbot.conversations.replies)
            send.message = {"msgtype": "image", "image": {"media_id": str(row.content["image"])}}
            return send
        text = str(row.content["text"])[:CUSTOM_TEXT_LIMIT]
        send.message = {"msgtype": "text", "text": {"content": text}}
        return send
    spec = row.content[CONTENT_FOR_CHANNEL[candidate.channel]]
    ns, key = settings.notify, candidate.template_key or ""
    template = (
        ns.notice(key, identity.app_name)
        if candidate.channel == "oa_subscribe"
        else ns.template(key, identity.app_name)
    )
    assert template is not None  # _plan only offers configured templates
    data = dict(spec.get("data") or {})
    send.template_id = template.template_id
    send.data = render_fields(template.fields, data, official=candidate.channel == "template")
    page = spec.get("page") or _fill(template.page, data) or None
    if candidate.channel in ("template", "oa_subscribe"):
        send.url = spec.get("url") or _fill(template.url, data) or None
        mp = settings.miniprogram(template.miniprogram) if template.miniprogram else None
        if mp is not None and page:
            send.miniprogram = {"appid": mp.appid, "pagepath": page}
    else:
        send.page = page
    return send


def wechat_call(api: Any, send: Send) -> dict[str, Any]:
    """Make the WeChat call of `send` through the facade (wxbot.wechat.api.WeChatApi)."""
    if send.channel == "custom":
        return api.send_custom(send.app_name, send.openid, send.message)  # type: ignore[no-any-return]
    if send.channel == "template":
        return api.send_template(  # type: ignore[no-any-return]
            send.app_name,
            send.openid,
            send.template_id,
            send.data,
            url=send.url,
            miniprogram=send.miniprogram,
            client_msg_id=send.client_msg_id,
        )
    if send.channel == "oa_subscribe":
        return api.send_notice(  # type: ignore[no-any-return]
            send.app_name,
            send.openid,
            send.template_id,
            send.data,
            page=send.url,
            miniprogram=send.miniprogram,
        )
    return api.send_subscribe(  # type: ignore[no-any-return]
        send.app_name, send.openid, send.template_id, send.data, page=send.page,
        client_msg_id=send.client_msg_id,
    )  # fmt: skip
