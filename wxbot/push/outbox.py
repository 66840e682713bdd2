"""The sender's rules: claim due notifications, choose each one's channel, and record what WeChat answered.

One round of the sender (jobs/sender.py) is: claim() in one transaction -> the WeChat calls, concurrently,
outside any transaction -> record() in one transaction. claim() marks the rows `sending` with a lease
(next_attempt_at = end of the lease) and a claim token; if the sender dies, the rows come back when the
lease ends, and record() only touches rows that still carry its token.

Claiming uses SELECT ... FOR UPDATE SKIP LOCKED on MySQL/MariaDB, so any number of senders share the queue;
on SQLite the caller holds a cache lock (one claimer) and BEGIN IMMEDIATE serialises the transaction anyway.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal_column, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.config import NotifySettings, Settings
from wxbot.conversations import reply_window
from wxbot.db import is_mysql
from wxbot.models.identity import Account, Identity
from wxbot.models.outbox import AppPause, DailyCount, Notification, SubscribeGrant
from wxbot.push import notify
from wxbot.push.template_fields import PLACEHOLDER, MissingTemplateData, render_fields
from wxbot.wechat.errors import (
    DAILY_QUOTA,
    MINUTE_LIMIT,
    REFUSED,
    SYSTEM_BUSY,
    TOKEN_ERRORS,
    UNFOLLOWED,
    WINDOW_CLOSED,
    WINDOW_SPENT,
    WeChatError,
)

log = logging.getLogger(__name__)

# WeChat errors worth another try later (wechat-platform.md §9); token errors only reach us when the
# facade's own refresh-and-retry did not help.
RETRYABLE = frozenset({SYSTEM_BUSY, MINUTE_LIMIT}) | TOKEN_ERRORS
# errcode -> the channel it ends for this notification (the next channel is tried)
CHANNEL_ENDING = {
    UNFOLLOWED: "template",
    REFUSED: "subscribe",
    WINDOW_CLOSED: "custom",
    WINDOW_SPENT: "custom",
}
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
    token: str
    sends: list[Send] = field(default_factory=list)
    settled: int = 0  # rows decided without a send (held, skipped, failed)


@dataclass
class Result:
    send: Send
    answer: dict[str, Any] | None = None
    error: Exception | None = None


@dataclass
class Summary:
    sent: int = 0
    retrying: int = 0
    next_channel: int = 0
    failed: int = 0
    lost: int = 0  # the claim had expired and another sender took the row


# ---------------------------------------------------------------- claim


@dataclass
class _Candidate:
    channel: str
    identity: Identity
    template_key: str | None = None
    grant_ids: list[int] = field(default_factory=list)


@dataclass
class _Plan:
    row: Notification
    candidates: list[_Candidate]
    why_not: list[str]  # "channel:reason" for channels that cannot be used
    paused_until: datetime | None  # no channel now, but a paused one is back then


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
    people = _People.load(session, rows)
    pauses = {p.app_name: p.until for p in session.scalars(select(AppPause).where(AppPause.until > now))}
    plans: list[_Plan] = []
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
            if row.reminder not in notify.CHOICE_ALLOWS.get(choice, notify.CHOICE_ALLOWS["all"]):
                _settle(row, "skipped", "preference", f"reminder choice: {choice}", result)
                continue
        if not row.urgent:
            until = notify.quiet_until(now, settings.app.timezone, ns.quiet_hours_start, ns.quiet_hours_end)
            if until is not None:
                _hold(row, "quiet_hours", until, result)
                continue
        plan = _plan(session, settings, row, people, pauses)
        if not plan.candidates:
            if plan.paused_until is not None:
                row.status, row.reason, row.next_attempt_at = "pending", "paused", plan.paused_until
                row.claim_token = None
                result.settled += 1
            else:
                detail = "; ".join([*_ended_list(row), *plan.why_not])
                _settle(row, "skipped", "no_channel", detail[:255], result)
            continue
        plans.append(plan)
    plans, counters = _apply_daily_cap(session, settings, plans, now, result)
    claimed: list[int] = []
    for plan in plans:
        send = _commit_to_channel(session, settings, plan, result)
        if send is None:
            continue
        row = plan.row
        send.attempts = row.attempts + 1
        claimed.append(row.id)
        result.sends.append(send)
        if _capped(row, ns) and send.attempts == 1:
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


def _ended_list(row: Notification) -> list[str]:
    return [f"{c}:{why}" for c, why in row.ended().items()]


class _People:
    """Accounts, identities and authorisations of one batch, loaded with a few queries."""

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.identities: dict[int, Identity] = {}
        self.by_account: dict[int, list[Identity]] = defaultdict(list)
        self.by_unionid: dict[str, list[Identity]] = defaultdict(list)
        self.grants: dict[tuple[int, str], list[SubscribeGrant]] = defaultdict(list)
        self.reserved: dict[int, SubscribeGrant] = {}  # notification id -> grant it reserved before

    @classmethod
    def load(cls, session: Session, rows: Sequence[Notification]) -> _People:
        people = cls()
        account_ids = {r.account_id for r in rows if r.account_id is not None}
        identity_ids = {r.identity_id for r in rows if r.identity_id is not None}
        found = (
            list(session.scalars(select(Identity).where(Identity.id.in_(identity_ids))))
            if identity_ids
            else []
        )
        account_ids |= {i.account_id for i in found if i.account_id is not None}
        if account_ids:
            people.accounts = {
                a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))
            }
            found += session.scalars(select(Identity).where(Identity.account_id.in_(account_ids)))
        unionids = {i.unionid for i in found if i.unionid}
        if unionids:
            found += session.scalars(select(Identity).where(Identity.unionid.in_(unionids)))
        for identity in found:
            if identity.id in people.identities:
                continue
            people.identities[identity.id] = identity
            if identity.account_id is not None:
                people.by_account[identity.account_id].append(identity)
            if identity.unionid:
                people.by_unionid[identity.unionid].append(identity)
        mp_ids = [i.id for i in people.identities.values() if i.kind == "miniprogram"]
        if mp_ids:
            grants = session.scalars(
                select(SubscribeGrant)
                .where(
                    SubscribeGrant.identity_id.in_(mp_ids),
                    SubscribeGrant.used_at.is_(None),
                    SubscribeGrant.revoked_at.is_(None),
                )
                .order_by(SubscribeGrant.id)
            )
            for grant in grants:
                people.grants[(grant.identity_id, grant.template_id)].append(grant)
        crashed = [r.id for r in rows if r.status == "sending"]
        if crashed:
            for grant in session.scalars(
                select(SubscribeGrant).where(SubscribeGrant.notification_id.in_(crashed))
            ):
                people.reserved[grant.notification_id or 0] = grant
        return people

    def of(self, row: Notification) -> list[Identity]:
        """The person's identities, the one the notification names first; joined through account and unionid."""
        ordered: list[Identity] = []
        seen: set[int] = set()

        def add(items: Iterable[Identity]) -> None:
            for identity in items:
                if identity.id not in seen:
                    seen.add(identity.id)
                    ordered.append(identity)

        named = self.identities.get(row.identity_id or -1)
        if named is not None:
            add([named])
        account_id = row.account_id or (named.account_id if named is not None else None)
        if account_id is not None:
            add(sorted(self.by_account.get(account_id, []), key=_recent_first))
        for identity in list(ordered):
            if identity.unionid:
                add(sorted(self.by_unionid.get(identity.unionid, []), key=_recent_first))
        return ordered


def _recent_first(identity: Identity) -> tuple[int, float]:
    at = identity.last_interaction_at
    return (0, -at.timestamp()) if at is not None else (1, float(identity.id))


def _plan(
    session: Session, settings: Settings, row: Notification, people: _People, pauses: dict[str, datetime]
) -> _Plan:
    """The channels this row could use now, in its order (without side effects yet)."""
    ns = settings.notify
    ended = row.ended()
    identities = people.of(row)
    plan = _Plan(row, [], [], None)
    paused: list[datetime] = []
    for channel in row.channel_list():
        if channel in ended:
            continue
        why = "no_identity"
        found = False
        if channel == "custom":
            targets = (
                [people.identities[row.identity_id]] if row.identity_id in people.identities else identities
            )
            for identity in targets:
                if identity.kind == "official" and not identity.subscribed:
                    why = "not_following"
                elif identity.app_name in pauses:
                    why = "paused"
                    paused.append(pauses[identity.app_name])
                elif not reply_window.status(session, identity.id).open:
                    why = "window_closed"
                else:
                    plan.candidates.append(_Candidate(channel, identity))
                    found = True
                    break
        elif channel == "template":
            key = row.content["template"]["key"]
            for identity in identities:
                if identity.kind != "official":
                    continue
                if not identity.subscribed:
                    why = "not_following" if why in ("no_identity", "not_following") else why
                elif ns.template(key, identity.app_name) is None:
                    why = "no_template"
                elif identity.app_name in pauses:
                    why = "paused"
                    paused.append(pauses[identity.app_name])
                else:
                    plan.candidates.append(_Candidate(channel, identity, key))
                    found = True
                    break
            if why == "no_identity" and not found:
                why = "not_following"
        elif channel == "subscribe":
            key = row.content["subscribe"]["key"]
            reserved = people.reserved.get(row.id)
            for identity in identities:
                if identity.kind != "miniprogram":
                    continue
                template = ns.template(key, identity.app_name)
                if template is None:
                    why = "no_template" if why == "no_identity" else why
                    continue
                grants = [g.id for g in people.grants.get((identity.id, template.template_id), [])]
                if reserved is not None and reserved.identity_id == identity.id:
                    grants.insert(0, reserved.id)
                if not grants:
                    why = "no_authorisation"
                elif identity.app_name in pauses:
                    why = "paused"
                    paused.append(pauses[identity.app_name])
                else:
                    plan.candidates.append(_Candidate(channel, identity, key, grants))
                    found = True
                    break
            if why == "no_identity" and not found:
                why = "no_authorisation"
        if not found:
            plan.why_not.append(f"{channel}:{why}")
    if not plan.candidates and paused:  # a paused channel will be there again: wait for it
        plan.paused_until = min(paused)
    return plan


def _capped(row: Notification, ns: NotifySettings) -> bool:
    return ns.daily_cap > 0 and not row.urgent and row.account_id is not None


def _apply_daily_cap(
    session: Session, settings: Settings, plans: list[_Plan], now: datetime, claim_: Claim
) -> tuple[list[_Plan], dict[int, DailyCount]]:
    """Hold first sends beyond the account's daily cap until the next local day. Returns the plans that go
    ahead and the accounts' counters (locked until commit; the caller counts what it really sends)."""
    ns = settings.notify
    firsts = [p for p in plans if _capped(p.row, ns) and p.row.attempts == 0]
    if not firsts:
        return plans, {}
    day = clock.local_day(now, settings.app.timezone)
    counters = _lock_daily_counts(session, {p.row.account_id or 0 for p in firsts}, day)
    used = {account_id: counter.count for account_id, counter in counters.items()}
    midnight = clock.next_local_midnight(now, settings.app.timezone)
    kept: list[_Plan] = []
    for plan in plans:
        row = plan.row
        if _capped(row, ns) and row.attempts == 0:
            account_id = row.account_id or 0
            if used[account_id] >= ns.daily_cap:
                _hold(row, "daily_cap", midnight, claim_)
                continue
            used[account_id] += 1
        kept.append(plan)
    return kept, counters


def _lock_daily_counts(session: Session, account_ids: set[int], day: Any) -> dict[int, DailyCount]:
    """Today's counters of these accounts, locked until commit (concurrent senders queue here)."""
    values = [{"account_id": a, "day": day, "count": 0} for a in sorted(account_ids)]
    insert_missing = (
        mysql_insert(DailyCount).prefix_with("IGNORE")
        if is_mysql(session)
        else sqlite_insert(DailyCount).on_conflict_do_nothing()
    )
    session.connection().execute(insert_missing, values)
    stmt = (
        select(DailyCount)
        .where(DailyCount.account_id.in_(account_ids), DailyCount.day == day)
        .order_by(DailyCount.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {counter.account_id: counter for counter in session.scalars(stmt)}


def _commit_to_channel(session: Session, settings: Settings, plan: _Plan, claim_: Claim) -> Send | None:
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
    _settle(row, "skipped", "no_channel", "; ".join([*_ended_list(row), *why_not])[:255], claim_)
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


def _build_send(settings: Settings, row: Notification, candidate: _Candidate, grant_id: int | None) -> Send:
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


# ---------------------------------------------------------------- record


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
            done += int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
        summary.sent = done
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
    values: dict[str, Any] = {
        "claim_token": None,
        "errcode": errcode,
        "channel": send.channel,
        "sent_app": send.app_name,
        "sent_identity_id": send.identity_id,
    }
    if send.grant_id is not None and (errcode is None or errcode in RETRYABLE or errcode == DAILY_QUOTA):
        _release_grant(session, send.grant_id)
    if errcode == DAILY_QUOTA:
        _pause_app(session, send.app_name, clock.next_local_midnight(now, settings.app.timezone))
        values.update(
            status="pending", next_attempt_at=now, reason="paused", detail=f"{send.channel}: {DAILY_QUOTA}"
        )
        summary.next_channel += 1
    elif CHANNEL_ENDING.get(errcode or 0) == send.channel:
        if errcode == UNFOLLOWED:
            _mark_unfollowed(session, send.identity_id, now)
        ended = ",".join(x for x in (send.ended, f"{send.channel}:{errcode}") if x)
        values.update(status="pending", next_attempt_at=now, ended_channels=ended, reason=None, detail=None)
        summary.next_channel += 1
    elif errcode is None or errcode in RETRYABLE:
        what = (
            str(error)[:200] if errcode is None else (error.errmsg if isinstance(error, WeChatError) else "")
        )
        if send.attempts >= ns.max_attempts:
            values.update(
                status="failed",
                next_attempt_at=None,
                reason="gave_up",
                detail=f"{send.channel}: {what}"[:255],
            )
            summary.failed += 1
        else:
            values.update(
                status="pending",
                next_attempt_at=now + backoff(ns, send.attempts, errcode),
                reason="retrying",
                detail=f"{send.channel}: {what}"[:255],
            )
            summary.retrying += 1
    else:
        errmsg = error.errmsg if isinstance(error, WeChatError) else str(error)
        values.update(
            status="failed",
            next_attempt_at=None,
            reason="wechat_error",
            detail=f"{send.channel}: {errmsg}"[:255],
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


def _pause_app(session: Session, app_name: str, until: datetime) -> None:
    values = {"app_name": app_name, "until": until, "errcode": DAILY_QUOTA, "updated_at": clock.now()}
    if is_mysql(session):
        stmt = mysql_insert(AppPause).values(**values)
        session.execute(
            stmt.on_duplicate_key_update(until=stmt.inserted.until, updated_at=stmt.inserted.updated_at)
        )
    else:
        stmt_l = sqlite_insert(AppPause).values(**values)
        session.execute(
            stmt_l.on_conflict_do_update(
                index_elements=["app_name"], set_={"until": until, "updated_at": values["updated_at"]}
            )
        )


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
