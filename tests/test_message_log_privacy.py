"""The inbound message log under the privacy rules, through real signed callbacks: exported with the account,
erased with it, dropped at the unsubscribe (except the unsubscribe delivery itself), purged after its period."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from jobs.retention import run_retention
from tests.wechat_helpers import Follower
from wxbot.models import Account, Identity, InboundMessage, RetentionRun
from wxbot.privacy import access, cancellation


def _link(db, services, openid):
    account = Account(
        phone_enc=services.pii.encrypt("13812345678"), phone_hash=services.pii.lookup_hash("13812345678")
    )
    db.add(account)
    db.flush()
    identity = db.scalars(sa.select(Identity).where(Identity.openid == openid)).one()
    identity.account_id = account.id
    db.commit()
    return account


def _events(db):
    db.rollback()
    db.expire_all()
    return [(m.msg_type, m.event) for m in db.scalars(sa.select(InboundMessage).order_by(InboundMessage.id))]


def test_messages_are_exported_and_erased_with_the_account(client, db, services, clock):
    follower = Follower(client)
    follower.follow()
    follower.send_text("请问宣讲会几点开始？")
    account = _link(db, services, follower.openid)
    data = access.export_account(db, services.pii, account.id, actor="user", channel="miniprogram")
    assert [m["fields"].get("Content") for m in data["modules"]["inbound_messages"]] == [
        None,
        "请问宣讲会几点开始？",
    ]
    cancellation.erase_account(db, account.id, actor="system")
    db.commit()
    assert _events(db) == []


def test_an_unsubscribe_drops_the_followers_messages(client, db, clock):
    follower, other = Follower(client), Follower(client)
    follower.follow()
    follower.send_text("hello")
    other.send_text("stay")
    follower.unfollow()
    follower.redeliver()  # WeChat retries the unsubscribe: recognised, not stored twice
    assert _events(db) == [("text", None), ("event", "unsubscribe")]


def test_the_log_is_purged_after_its_period(client, db, services, clock):
    follower = Follower(client)
    follower.send_text("old")
    clock.advance(days=services.settings.retention.inbound_messages_days, seconds=1)
    follower.send_text("new")
    run_retention(services)
    assert _events(db) == [("text", None)]
    (run,) = db.scalars(sa.select(RetentionRun).where(RetentionRun.data_class == "inbound_messages"))
    assert (run.deleted, run.error) == (1, None)
    assert run.cutoff == clock.current - timedelta(days=services.settings.retention.inbound_messages_days)


def test_numbers_the_follower_types_are_kept_masked(client, db, clock):
    follower = Follower(client)
    follower.send_text("电话 138-1234-5678，身份证 11010119900307123X，订单 1234567890123456789")
    follower.message("voice", MediaId="media13812345678x", Format="amr", Recognition="我的手机是13812345678")
    db.rollback()
    typed = [m.fields for m in db.scalars(sa.select(InboundMessage).order_by(InboundMessage.id))]
    db.rollback()
    assert typed[0]["Content"] == "电话 138****5678，身份证 110***********123X，订单 1234567890123456789"
    assert typed[1]["Recognition"] == "我的手机是138****5678"
    assert typed[1]["MediaId"] == "media13812345678x"  # ids are not text: left as they came
