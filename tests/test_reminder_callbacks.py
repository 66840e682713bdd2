"""Status reminders through the official account's callback: keywords, delivery reports, authorisations."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.conftest import OA
from tests.helpers import platform_post
from tests.wechat_helpers import Follower
from wxbot.models import Account, Consent, Identity, Notification
from wxbot.push import explain, grants

NOON = datetime(2026, 11, 30, 4, 0)  # 12:00 in Shanghai
OA_TID = "oa-status-tid"


@pytest.fixture
def config_dict(config_dict):
    fields = {"thing1": "{job_title}", "phrase2": "{status}"}
    config_dict["notify"] = {
        "templates": {"status_viewed": {"oa": {"template_id": OA_TID, "fields": fields}}}
    }
    return config_dict


def linked_follower(client, db, *, n=1):
    follower = Follower(client)
    follower.follow()
    identity = db.scalars(select(Identity).where(Identity.openid == follower.openid)).one()
    account = Account(platform_account_id=f"acc-{n}")
    db.add(account)
    db.flush()
    identity.account_id = account.id
    db.commit()
    return follower, account


def choice_of(db, account):
    db.expire_all()
    choice = db.get(Account, account.id).reminder_pref
    db.commit()
    return choice


def test_keywords_set_the_reminder_choice(client, db, clock):
    follower, account = linked_follower(client, db)
    assert "只提醒“待沟通”和“面试邀请”" in follower.send_text("只提醒关键").content
    assert choice_of(db, account) == "key"
    assert "已关闭投递状态提醒" in follower.send_text("退订").content
    assert choice_of(db, account) == "off"
    assert "投递状态有变化都会提醒你" in follower.send_text(" 订阅全部 ").content
    assert choice_of(db, account) == "all"
    assert "提醒全部状态" in follower.send_text("提醒设置").content
    consents = db.scalars(
        select(Consent).where(Consent.kind == "status_reminders").order_by(Consent.id)
    ).all()
    # one consent while reminders are on (all or key); "退订" withdrew it, "订阅全部" gave it again
    assert [(c.scope, c.channel, c.withdrawn_at is None) for c in consents] == [
        ("", "official_account", False), ("", "official_account", True)]  # fmt: skip
    db.commit()


def test_the_help_text_lists_the_keywords(client, db, clock):
    reply = Follower(client).send_text("帮助").content
    assert all(word in reply for word in ("订阅全部", "只提醒关键", "退订", "提醒设置"))


def test_a_follower_without_an_account_is_told_how_to_link(client, db, clock):
    reply = Follower(client).send_text("退订").content
    assert "还没有关联招聘平台账号" in reply


def test_unsubscribing_by_keyword_stops_an_unsent_push(client, db, clock):
    clock.set(NOON)
    follower, _ = linked_follower(client, db)
    body = {"event_id": "e1", "account_id": "acc-1", "application_id": "a1", "job_title": "测试工程师",
            "company": "示例科技", "status": "viewed", "changed_at": "2026-11-30T11:00:00+08:00"}  # fmt: skip
    platform_post(client, "/platform/applications/status", body)
    assert "1 条还未发出的提醒不再发送" in follower.send_text("退订").content
    push = db.scalars(select(Notification)).one()
    assert (push.status, push.reason) == ("skipped", "preference")
    db.commit()


@pytest.mark.parametrize(
    ("status", "outcome", "reason"),
    [("success", "delivered", None), ("failed:user block", "failed", "blocked_by_user"),
     ("failed: system failed", "failed", "delivery_failed")],
)  # fmt: skip
def test_templatesendjobfinish_closes_the_loop(client, db, services, sandbox, clock, status, outcome, reason):
    clock.set(NOON)
    follower, _ = linked_follower(client, db)
    sandbox.set_follower(OA["appid"], follower.openid)
    body = {"event_id": "e1", "account_id": "acc-1", "application_id": "a1", "job_title": "测试工程师",
            "company": "示例科技", "status": "viewed", "changed_at": "2026-11-30T11:00:00+08:00"}  # fmt: skip
    platform_post(client, "/platform/applications/status", body)
    send_due(services)
    push = db.scalars(select(Notification)).one()
    assert push.status == "sent" and push.msgid
    db.commit()
    other = Follower(client)  # a report for another message changes nothing
    other.event("TEMPLATESENDJOBFINISH", MsgID="12345", Status="success")
    follower.event("TEMPLATESENDJOBFINISH", MsgID=push.msgid, Status=status)
    db.expire_all()
    push = db.scalars(select(Notification)).one()
    assert (push.status, push.reason) == (outcome, reason)
    explanation = explain.explain(push)
    db.commit()
    assert explanation.startswith("已通过公众号模板消息送达" if outcome == "delivered" else "发送失败")


def test_subscription_popups_grant_and_settings_revoke(client, db, clock):
    follower, _ = linked_follower(client, db)
    identity = db.scalars(select(Identity).where(Identity.openid == follower.openid)).one()
    db.commit()
    items = "".join(
        f"<List><TemplateId><![CDATA[{tid}]]></TemplateId><SubscribeStatusString><![CDATA[{answer}]]>"
        f"</SubscribeStatusString><PopupScene>2</PopupScene></List>"
        for tid, answer in ((OA_TID, "accept"), ("someone-elses", "accept"), (OA_TID, "accept"))
    )
    head = follower.fields(MsgType="event", Event="subscribe_msg_popup_event")
    xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in head.items() if k != "CreateTime")
    xml += f"<CreateTime>{head['CreateTime']}</CreateTime><SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent></xml>"
    assert follower.send(xml).status == 200
    assert grants.unused_grants(db, identity.id) == {OA_TID: 2}
    db.commit()
    follower.event("subscribe_msg_change_event",
                   SubscribeMsgChangeEvent={"List": {"TemplateId": OA_TID, "SubscribeStatusString": "reject"}})  # fmt: skip
    assert grants.unused_grants(db, identity.id) == {}
    db.commit()
