"""The outbox as domain code sees it: enqueue's rules, quiet hours, and the answer to "why?"."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from wxbot import clock
from wxbot.models import Account, Identity, Notification
from wxbot.push import explain, policy
from wxbot.push.enqueue import EnqueueError, PushContent, enqueue

TZ = "Asia/Shanghai"


@pytest.fixture
def account(db):
    account = Account(platform_account_id="acc-1")
    db.add(account)
    db.commit()
    return account


def test_a_dedupe_key_makes_a_retry_return_the_first_row(db, account, clock):
    first = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="hi"), channels=("custom",),
                    dedupe_key="k1")  # fmt: skip
    again = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="other"),
                    channels=("custom",), dedupe_key="k1")  # fmt: skip
    db.commit()
    assert again.id == first.id and db.scalars(select(Notification)).all() == [first]
    db.commit()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": ("fax",)}, "channels"),
        ({"channels": ()}, "channels"),
        ({"channels": ("template",)}, "content"),
        ({"reminder": "sometimes"}, "reminder"),
        ({"account_id": None}, "account or an identity"),
    ],
)
def test_a_notification_that_cannot_be_sent_is_refused_at_enqueue(db, account, kwargs, message):
    args = {
        "purpose": "x",
        "account_id": account.id,
        "content": PushContent(text="hi"),
        "channels": ("custom",),
    }
    args.update(kwargs)
    with pytest.raises(EnqueueError, match=message):
        enqueue(db, **args)
    db.rollback()


def test_the_reminder_choice_applies_at_enqueue_and_when_changed(db, account, clock):
    account.reminder_pref = "key"
    db.flush()
    other = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="a"), channels=("custom",),
                    reminder="other")  # fmt: skip
    key = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="b"), channels=("custom",),
                  reminder="key")  # fmt: skip
    answer = enqueue(
        db, purpose="x", account_id=account.id, content=PushContent(text="c"), channels=("custom",)
    )
    assert (other.status, other.reason) == ("skipped", "preference")
    assert key.status == answer.status == "pending"
    account.reminder_pref = "off"
    assert policy.apply_reminder_choice(db, account.id) == 1  # the key reminder; the answer is no reminder
    db.commit()
    db.expire_all()
    assert [n.status for n in db.scalars(select(Notification).order_by(Notification.id))] == [
        "skipped", "skipped", "pending"]  # fmt: skip
    assert [h["outcome"] for h in explain.history(db, account.id)] == ["pending", "skipped", "skipped"]
    db.commit()


def test_supersede_replaces_only_unsent_rows_with_the_same_key(db, account, clock):
    old = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="1"), channels=("custom",),
                  supersede_key="app:1")  # fmt: skip
    sent = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="2"), channels=("custom",),
                   supersede_key="app:1")  # fmt: skip
    db.flush()
    db.expire_all()
    sent.status, sent.next_attempt_at = "sent", None
    other = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="3"), channels=("custom",),
                    supersede_key="app:2")  # fmt: skip
    newest = enqueue(db, purpose="x", account_id=account.id, content=PushContent(text="4"), channels=("custom",),
                     supersede_key="app:1")  # fmt: skip
    db.commit()
    db.expire_all()
    assert [(n.status, n.reason) for n in (db.get(Notification, i) for i in (old.id, sent.id, other.id, newest.id))] == [
        ("superseded", "superseded"), ("sent", None), ("pending", None), ("pending", None)]  # fmt: skip
    assert explain.explain(db.get(Notification, old.id)) == "未发送：已被更新的状态取代"
    db.commit()


@pytest.mark.parametrize(
    ("utc", "until"),
    [
        (datetime(2026, 11, 30, 13, 59), None),  # 21:59 in Shanghai
        (datetime(2026, 11, 30, 14, 0), datetime(2026, 12, 1, 0, 0)),  # 22:00 -> 08:00 next morning
        (datetime(2026, 11, 30, 18, 30), datetime(2026, 12, 1, 0, 0)),  # 02:30 -> 08:00 the same day
        (datetime(2026, 12, 1, 0, 0), None),  # 08:00
    ],
)
def test_quiet_hours_span_midnight_in_shanghai(utc, until):
    assert policy.quiet_until(utc, TZ, "22:00", "08:00") == until


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),
       st.sampled_from(["22:00", "00:00", "13:30"]), st.sampled_from(["08:00", "06:15", "23:59"]))  # fmt: skip
def test_quiet_hours_end_later_and_within_a_day_and_outside_them(at, start, end):
    until = policy.quiet_until(at, TZ, start, end)
    if until is not None:
        assert at < until <= at + timedelta(days=1)
        assert policy.quiet_until(until, TZ, start, end) is None
        assert clock.to_local(until, TZ).strftime("%H:%M") == end


def test_the_next_midnight_is_shanghais():
    assert clock.next_local_midnight(datetime(2026, 11, 30, 15, 59), TZ) == datetime(2026, 11, 30, 16, 0)
    assert clock.next_local_midnight(datetime(2026, 11, 30, 16, 0), TZ) == datetime(2026, 12, 1, 16, 0)


def test_explanations_say_what_happened_and_why():
    def row(**values):
        base = {"status": "pending", "reason": None, "channel": None, "errcode": None, "detail": None,
                "next_attempt_at": datetime(2026, 11, 30, 4, 0), "sent_at": None, "delivered_at": None,
                "ended_channels": "", "attempts": 0}  # fmt: skip
        base.update(values)
        return Notification(**base)

    sent_at = datetime(2026, 11, 30, 4, 5)
    assert explain.explain(row(status="sent", channel="template", sent_at=sent_at)) == (
        "已通过公众号模板消息发送（2026-11-30 12:05）"
    )
    assert explain.explain(
        row(status="failed", reason="wechat_error", channel="subscribe", errcode=47003)
    ) == ("发送失败：微信拒绝了这条消息（小程序订阅消息 错误码 47003）")
    assert explain.explain(row(status="skipped", reason="no_channel",
                               detail="template:not_following; subscribe:no_authorisation")) == (
        "未发送：没有可用的渠道（公众号模板消息：未关注公众号；小程序订阅消息：没有小程序订阅授权）")  # fmt: skip
    assert explain.explain(row(status="failed", reason="blocked_by_user", channel="template")) == (
        "发送失败：用户已拒收公众号消息"
    )
    assert explain.explain(row()) == "排队等待发送"


def test_identity_only_notifications_need_no_account(db, clock):
    identity = Identity(app_name="oa", appid="wxoa000000000001", kind="official", openid="o-1")
    db.add(identity)
    db.flush()
    row = enqueue(db, purpose="ticket_reply", identity_id=identity.id, content=PushContent(text="答复"),
                  channels=("custom",), urgent=True)  # fmt: skip
    db.commit()
    assert row.status == "pending" and row.account_id is None
