"""The sender's side of the outbox: claim due notifications and turn each into one WeChat call.

One round of the sender (jobs/sender.py) is: claim() in one transaction -> the WeChat calls (wechat_call),
concurrently, outside any transaction -> wxbot.push.results.record() in one transaction. claim() marks the
rows `sending` with a lease (next_attempt_at = end of the lease) and a claim token; if the sender dies, the
rows come back when the lease ends, and record() only touches rows that still carry its token.

Claiming uses SELECT ... FOR UPDATE SKIP LOCKED on MySQL/MariaDB, so any number of senders share the queue;
on SQLite the caller holds a cache lock (one claimer) and BEGIN IMMEDIATE serialises the transaction anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.config import Settings
from wxbot.conversations import reply_window
from wxbot.db import is_mysql
from wxbot.models.outbox import Notification, SubscribeGrant
from wxbot.push import limits, policy
from wxbot.push.planning import Candidate, People, Plan, ended_list, plan_channels
from wxbot.push.template_fields import PLACEHOLDER, MissingTemplateData, render_fields

CUSTOM_TEXT_LIMIT = 600  # characters; WeChat refuses text over about 2048 bytes (45002)


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

    @property
    def client_msg_id(self) -> str:
        # template/send's 防重入 id, the same for every try of one notification: when a sender died after
        # WeChat accepted the message, WeChat can recognise the next sender's try (semantics unconfirmed)
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
    rows = list(session.scalars(stmt))
    result = Claim(token=uuid.uuid4().hex)
    if not rows:
        return result
    people = People.load(session, rows)
    pauses = limits.active(session, now)  # by app and channel: WeChat limits each API on its own
    plans: list[Plan] = []
    for row in rows:
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
    claimed: list[int] = []
    for plan in plans:
        send = _commit_to_channel(session, settings, plan, result)
        if send is None:
            continue
        row = plan.row
        send.attempts = row.attempts + 1
        claimed.append(row.id)
        result.sends.append(send)
        if policy.capped(row, ns) and send.attempts == 1:
            counters[row.account_id or 0].count += 1
    session.flush()
    if claimed:
        # One statement for the whole batch; these rows are not touched through the ORM afterwards.
        session.execute(
            update(Notification)
            .where(Notification.id.in_(claimed))
            .values(
                status="sending",
                claim_token=result.token,
                next_attempt_at=now + timedelta(seconds=ns.lease_seconds),
                attempts=Notification.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
    return result


def _settle(row: Notification, status: str, reason: str, detail: str | None, claim_: Claim) -> None:
    row.status, row.reason, row.detail = status, reason, detail
    row.next_attempt_at, row.claim_token = None, None
    claim_.settled += 1


def _hold(row: Notification, reason: str, until: datetime, claim_: Claim) -> None:
    row.status, row.reason, row.next_attempt_at, row.claim_token = "held", reason, until, None
    claim_.settled += 1


def _commit_to_channel(session: Session, settings: Settings, plan: Plan, claim_: Claim) -> Send | None:
    """Take the first candidate whose side effect succeeds (a window message, an authorisation)."""
    row = plan.row
    why_not = list(plan.why_not)
    for candidate in plan.candidates:
        identity = candidate.identity
        if candidate.channel == "custom" and not reply_window.consume(session, identity.id):
            why_not.append("custom:window_closed")
            continue
        grant_id = None
        if candidate.channel == "subscribe":
            grant_id = _reserve_grant(session, row.id, candidate.grant_ids)
            if grant_id is None:
                why_not.append("subscribe:no_authorisation")
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
        text = str(row.content["text"])[:CUSTOM_TEXT_LIMIT]
        send.message = {"msgtype": "text", "text": {"content": text}}
        return send
    spec = row.content[candidate.channel]
    template = settings.notify.template(candidate.template_key or "", identity.app_name)
    assert template is not None  # _plan only offers configured templates
    data = dict(spec.get("data") or {})
    send.template_id = template.template_id
    send.data = render_fields(template.fields, data, official=candidate.channel == "template")
    page = spec.get("page") or _fill(template.page, data) or None
    if candidate.channel == "template":
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
    return api.send_subscribe(  # type: ignore[no-any-return]
        send.app_name, send.openid, send.template_id, send.data, page=send.page
    )
