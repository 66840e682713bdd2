"""Arranging campus events and their people in tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from wxbot import clock
from wxbot.models.identity import Account, Identity

ALL_FIELDS = ["name", "school", "major", "graduation_year", "phone"]

# The platform counts every change of an event up: each payload is newer than the one before.
_versions = itertools.count(1)


def iso(moment: datetime) -> str:
    """Naive UTC -> the platform's ISO 8601 in Beijing time."""
    return (moment + timedelta(hours=8)).isoformat() + "+08:00"


def event_payload(event_id: str = "ev-1", *, days_ahead: float = 7, **overrides: Any) -> dict[str, Any]:
    starts = clock.now().replace(microsecond=0) + timedelta(days=days_ahead)
    body: dict[str, Any] = {
        "event_id": event_id,
        "kind": "talk",
        "title": "字节跳动 2027 校园招聘宣讲会",
        "organiser": "字节跳动",
        "school": "清华大学",
        "city": "北京",
        "starts_at": iso(starts),
        "ends_at": iso(starts + timedelta(hours=2)),
        "venue": "主楼报告厅",
        "capacity": 2,
        "signup_deadline": iso(starts - timedelta(hours=12)),
        "cancel_deadline": iso(starts - timedelta(hours=6)),
        "fields": list(ALL_FIELDS),
        "status": "scheduled",
        "version": next(_versions),
    }
    body.update(overrides)
    return body


def answers(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "张三",
        "school": "清华大学",
        "major": "计算机科学与技术",
        "graduation_year": clock.now().year + 1,
        "phone": "13812345678",
    }
    body.update(overrides)
    return body


def make_person(session: Any, n: int) -> tuple[int, int]:
    """A linked mini-program user: (account id, identity id)."""
    account = Account(platform_account_id=f"acc-{n}")
    session.add(account)
    session.flush()
    identity = Identity(
        app_name="mp",
        appid="wxmp000000000001",
        kind="miniprogram",
        openid=f"openid-{n}",
        account_id=account.id,
    )
    session.add(identity)
    session.flush()
    return account.id, identity.id
