"""Arranging people for the privacy tests: an account with a phone number, its identities, consents."""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa

from wxbot import clock
from wxbot.db import Base
from wxbot.models import Account, Identity
from wxbot.models.base import eraser_of
from wxbot.privacy import consent
from wxbot.privacy.erasure import REDACTED

_seq = itertools.count(1)


def make_person(
    db: Any, services: Any, *, phone: str = "13812345678", linked: bool = True
) -> tuple[Account, Identity, Identity]:
    """An account (phone encrypted and hashed) with a follower identity and a mini-program identity."""
    n = next(_seq)
    account = Account(
        platform_account_id=f"plat-{n}",
        phone_enc=services.pii.encrypt(phone),
        phone_hash=services.pii.lookup_hash(phone),
    )
    db.add(account)
    db.flush()
    follower = Identity(app_name="oa", appid="wxoa000000000001", kind="official", openid=f"oFollower{n:019d}",
                        unionid=f"oUnion{n:022d}", subscribed=True, subscribed_at=clock.now(),
                        subscribe_scene="ADD_SCENE_QR_CODE", account_id=account.id if linked else None)  # fmt: skip
    mp_user = Identity(app_name="mp", appid="wxmp000000000001", kind="miniprogram", openid=f"oMpUser{n:021d}",
                       unionid=f"oUnion{n:022d}", account_id=account.id if linked else None)  # fmt: skip
    db.add_all([follower, mp_user])
    db.flush()
    consent.record(db, kind="privacy_policy", channel="miniprogram", identity_id=mp_user.id)
    consent.record(db, kind="phone", channel="miniprogram", account_id=account.id)
    consent.record(db, kind="status_reminders", channel="official_account", identity_id=follower.id)
    db.commit()
    return account, follower, mp_user


def _is_erased(value, eraser):
    return value is None or value == REDACTED or (eraser == "pseudonym" and str(value).startswith("erased-"))


def personal_leftovers(db, account_id, identity_ids):
    """Columns of rows that point at the account (None: no account) or its identities and still hold a
    personal value."""
    leftovers = set()
    for table in Base.metadata.sorted_tables:
        personal = [c for c in table.columns if eraser_of(c)]
        if table.name == "accounts":
            points_at_person = table.c.id == account_id
        elif table.name == "identities":
            points_at_person = table.c.id.in_(identity_ids)
        else:
            links = [
                table.c[n].in_(identity_ids) for n in ("identity_id", "sent_identity_id") if n in table.c
            ]
            links += [table.c.account_id == account_id] if "account_id" in table.c and account_id else []
            if not links:
                continue
            points_at_person = sa.or_(*links)
        if not personal:
            continue
        for row in db.execute(sa.select(*personal).where(points_at_person)).mappings():
            leftovers |= {
                f"{table.name}.{c.name}" for c in personal if not _is_erased(row[c.name], eraser_of(c))
            }
    db.rollback()
    return sorted(leftovers)
