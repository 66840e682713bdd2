"""The users' rights on the official account, by keyword, through signed callbacks."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from tests.wechat_helpers import Follower
from wxbot.models import Account, Identity, PrivacyRequest


def _requests(db):
    """The privacy requests, read without keeping SQLite's write lock from the next callback."""
    db.rollback()
    rows = [(r.kind, r.status) for r in db.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id))]
    db.rollback()
    return rows


def _linked_follower(client, db, services):
    follower = Follower(client)
    follower.follow()
    account = Account(
        phone_enc=services.pii.encrypt("13812345678"), phone_hash=services.pii.lookup_hash("13812345678")
    )
    db.add(account)
    db.flush()
    db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)).one().account_id = account.id
    db.commit()
    return follower, account


def test_my_data_summarises_what_we_hold(client, db, services, clock):
    follower, _ = _linked_follower(client, db, services)
    reply = follower.send_text("我的数据").content
    assert "138****5678" in reply and "13812345678" not in reply
    assert "发给公众号的消息：2" in reply  # the follow and this message
    assert _requests(db) == [("export", "completed")]


def test_a_follower_without_an_account_sees_what_we_hold_about_them(client, db, clock):
    follower = Follower(client)
    follower.follow()
    follower.send_text("你好")
    reply = follower.send_text("我的数据").content
    assert "还没有关联" in reply
    assert "发给公众号的消息：3" in reply  # the follow, 你好 and this message
    assert _requests(db) == [("export", "completed")]  # tracked like an account's export


def test_a_follower_without_an_account_can_cancel_and_revoke(client, db, clock):
    follower = Follower(client)
    follower.follow()
    info = follower.send_text("注销").content
    assert "还没有关联" in info and "确认注销" in info
    assert _requests(db) == []  # explaining is not requesting
    assert "撤销注销" in follower.send_text("确认注销").content
    assert "撤销注销" in follower.send_text("确认注销").content  # asking twice is one request
    assert _requests(db) == [("cancellation", "pending")]
    assert "已撤回" in follower.send_text("撤销注销").content
    assert "没有待处理" in follower.send_text("撤销注销").content
    assert _requests(db) == [("cancellation", "revoked")]


def test_a_cancellation_without_an_account_erases_what_we_held_after_the_review(client, db, services, clock):
    follower = Follower(client)
    follower.follow()
    follower.send_text("你好")
    follower.send_text("确认注销")
    clock.advance(days=services.settings.privacy.cancellation_review_days - 1)
    db.rollback()
    assert run_cancellations(services) == 0  # not before the review period ends
    clock.advance(days=1)
    assert run_cancellations(services) == 1
    db.rollback()
    assert db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)).all() == []
    db.rollback()
    # still following: the next message is a first contact, and nothing from before is left
    assert "发给公众号的消息：1" in follower.send_text("我的数据").content


def test_cancel_confirm_and_revoke(client, db, services, clock):
    follower, account = _linked_follower(client, db, services)
    assert "确认注销" in follower.send_text("注销").content
    assert _requests(db) == []  # explaining is not requesting
    assert "撤销注销" in follower.send_text("确认注销").content
    assert "已撤回" in follower.send_text("撤销注销").content
    assert "没有待处理" in follower.send_text("撤销注销").content
    assert _requests(db) == [("cancellation", "revoked")]


def test_a_confirmed_cancellation_runs_after_the_review_period(client, db, services, clock):
    follower, account = _linked_follower(client, db, services)
    follower.send_text("确认注销")
    clock.advance(days=services.settings.privacy.cancellation_review_days)
    db.rollback()
    assert run_cancellations(services) == 1
    db.expire_all()
    assert db.get(Account, account.id).status == "cancelled"
    db.rollback()
    assert "还没有关联" in follower.send_text("我的数据").content  # the identity is gone from the account
