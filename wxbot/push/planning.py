"""Channel choice: which channels (and which of the person's identities) a due notification can use now,
in the order of its `channels`, and why the others cannot. No side effects: the sender takes the first
candidate whose reservation (a window message, an authorisation) succeeds.

The person is found through the notification's identity or account, joined through the account and unionid;
the most recently active identity first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot.config import Settings
from wxbot.conversations import reply_window
from wxbot.models.identity import Account, Identity
from wxbot.models.outbox import Notification, SubscribeGrant


@dataclass
class Candidate:
    """A channel the notification can take now, through `identity`."""

    channel: str
    identity: Identity
    template_key: str | None = None
    grant_ids: list[int] = field(default_factory=list)
    long_term: bool = False  # a long-term 订阅通知: no send spends its grant


# why a subscribe channel could not be used, per channel (wxbot.push.explain.CHANNEL_REASONS)
NO_AUTHORISATION = {"subscribe": "no_authorisation", "oa_subscribe": "no_notice_authorisation"}


@dataclass
class Plan:
    """One due notification's candidates, in its channel order."""

    row: Notification
    candidates: list[Candidate]
    why_not: list[str]  # "channel:reason" for channels that cannot be used
    paused_until: datetime | None  # no channel now, but a paused one is back then


def ended_list(row: Notification) -> list[str]:
    """The "channel:reason" of each channel WeChat already ended for this notification."""
    return [f"{c}:{why}" for c, why in row.ended().items()]


class People:
    """Accounts, identities and authorisations of one batch, loaded with a few queries."""

    def __init__(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.identities: dict[int, Identity] = {}
        self.by_account: dict[int, list[Identity]] = defaultdict(list)
        self.by_unionid: dict[str, list[Identity]] = defaultdict(list)
        self.grants: dict[tuple[int, str], list[SubscribeGrant]] = defaultdict(list)
        self.reserved: dict[int, SubscribeGrant] = {}  # notification id -> grant it reserved before

    @classmethod
    def load(cls, session: Session, rows: Sequence[Notification]) -> People:
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
        ids = list(people.identities)  # mini-program subscribe messages and the official accounts' 订阅通知
        if ids:
            grants = session.scalars(
                select(SubscribeGrant)
                .where(
                    SubscribeGrant.identity_id.in_(ids),
                    SubscribeGrant.used_at.is_(None),
                    SubscribeGrant.revoked_at.is_(None),
                )
                .order_by(SubscribeGrant.id)
            )
            for grant in grants:
                people.grants[(grant.identity_id, grant.template_id)].append(grant)
        crashed = [r.id for r in rows if r.status == "sending" or r.unsure_since is not None]
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


def plan_channels(
    session: Session,
    settings: Settings,
    row: Notification,
    people: People,
    pauses: dict[tuple[str, str], datetime],
) -> Plan:
    """The channels this row could use now, in its order (without side effects yet)."""
    ns = settings.notify
    ended = row.ended()
    identities = people.of(row)
    plan = Plan(row, [], [], None)
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
                elif (identity.app_name, channel) in pauses:
                    why = "paused"
                    paused.append(pauses[(identity.app_name, channel)])
                elif (
                    not (row.window_reserved and identity.id == row.identity_id)
                    and not reply_window.status(session, identity.id).open
                ):  # (a reserved row took its slot when queued: WeChat says if the window has closed)
                    why = "window_closed"
                else:
                    plan.candidates.append(Candidate(channel, identity))
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
                elif (identity.app_name, channel) in pauses:
                    why = "paused"
                    paused.append(pauses[(identity.app_name, channel)])
                else:
                    plan.candidates.append(Candidate(channel, identity, key))
                    found = True
                    break
            if why == "no_identity" and not found:
                why = "not_following"
        elif channel in ("subscribe", "oa_subscribe"):
            why, found = _subscribe_candidate(
                settings, row, channel, identities, people, pauses, plan, paused
            )
        if not found:
            plan.why_not.append(f"{channel}:{why}")
    if not plan.candidates and paused:  # a paused channel will be there again: wait for it
        plan.paused_until = min(paused)
    return plan


def _subscribe_candidate(
    settings: Settings,
    row: Notification,
    channel: str,
    identities: list[Identity],
    people: People,
    pauses: dict[tuple[str, str], datetime],
    plan: Plan,
    paused: list[datetime],
) -> tuple[str, bool]:
    """A mini-program subscribe message (subscribe) or a 订阅通知 (oa_subscribe): the first identity of the
    right kind with a template and an unused (or long-term) authorisation. (why not, found)"""
    ns = settings.notify
    key = row.content["subscribe"]["key"]
    kind = "miniprogram" if channel == "subscribe" else "official"
    none_left = NO_AUTHORISATION[channel]
    reserved = people.reserved.get(row.id)
    why = "no_identity"
    for identity in identities:
        if identity.kind != kind:
            continue
        template = (
            ns.template(key, identity.app_name)
            if channel == "subscribe"
            else ns.notice(key, identity.app_name)
        )
        if template is None:
            why = "no_template" if why == "no_identity" else why
            continue
        held = people.grants.get((identity.id, template.template_id), [])
        long_term = channel == "oa_subscribe" and any(g.long_term for g in held)
        grants = [g.id for g in held if g.long_term == long_term]
        if reserved is not None and reserved.identity_id == identity.id:
            grants.insert(0, reserved.id)
        if not grants:
            why = none_left
        elif (identity.app_name, channel) in pauses:
            why = "paused"
            paused.append(pauses[(identity.app_name, channel)])
        else:
            plan.candidates.append(Candidate(channel, identity, key, grants, long_term))
            return why, True
    return (none_left if why == "no_identity" else why), False
