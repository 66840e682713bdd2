"""Template messages since 2023-05-04, end to end: what WeChat shows, 40241 (already sent), and pushes WeChat
intercepted after accepting them (queryblocktmplmsg) explained as such."""

from __future__ import annotations

import pytest

from jobs import registered_jobs
from jobs.interceptions import check_interceptions
from jobs.sender import send_due
from tests.conftest import OA
from tests.helpers import platform_post
from tests.test_sender import FIELDS, NOON, OA_TID, TEMPLATE, Person, only_push, pushes, status_event
from tests.wechat_helpers import Follower
from wxbot.push import explain
from wxbot.wechat.errors import ALREADY_SENT, WeChatError

QUERY = "/wxa/sec/queryblocktmplmsg"


@pytest.fixture
def config_dict(config_dict):
    templates = {
        f"status_{status}": {"oa": {"template_id": OA_TID, "fields": FIELDS}}
        for status in ("delivered", "viewed", "to_communicate", "interview", "rejected", "hired")
    }
    config_dict["notify"] = {"templates": templates}
    return config_dict


@pytest.fixture
def noon(clock):
    clock.set(NOON)
    return clock


def test_the_follower_sees_no_emoji_line_break_colour_first_or_remark(services, sandbox):
    sandbox.set_follower(OA["appid"], "o-1")
    data = {"first": {"value": "您好"}, "thing1": {"value": "面试👍邀请\n明天", "color": "#ff0000"},
            "thing2": {"value": "一二三四五六七八九十一二三四五六七八九十多出来的"}, "remark": {"value": "谢谢"}}  # fmt: skip
    services.wechat.send_template("oa", "o-1", OA_TID, data)
    (delivered,) = sandbox.inbox(OA["appid"], "o-1")
    assert delivered.body["data"] == {"thing1": {"value": "面试邀请明天"},
                                      "thing2": {"value": "一二三四五六七八九十一二三四五六七八九十"}}  # fmt: skip


def test_the_sender_cuts_what_the_platform_sends_to_wechats_rules(client, services, db, sandbox, noon):
    Person(db, sandbox)
    body_title = "高级后端开发工程师（北京）👍 急招，五险一金，双休，年终奖十六薪"
    platform_post(client, "/platform/applications/status", {
        "event_id": "e1", "account_id": "acc-1", "application_id": "a1", "job_title": body_title,
        "company": "示例科技🚀", "status": "viewed", "changed_at": "2026-11-30T11:00:00+08:00"})  # fmt: skip
    send_due(services)
    (call,) = sandbox.calls(TEMPLATE)
    thing1, thing2 = call.body["data"]["thing1"]["value"], call.body["data"]["thing2"]["value"]
    assert thing1 == "高级后端开发工程师（北京） 急招，五险…" and len(thing1) == 20
    assert thing2 == "示例科技"


def test_the_same_template_message_within_a_minute_is_40241_from_the_sandbox(services, sandbox, clock):
    sandbox.set_follower(OA["appid"], "o-1")
    data = {"thing1": {"value": "面试邀请"}}
    services.wechat.send_template("oa", "o-1", OA_TID, data)
    with pytest.raises(WeChatError) as refused:
        services.wechat.send_template("oa", "o-1", OA_TID, data)
    assert refused.value.errcode == ALREADY_SENT
    clock.advance(seconds=61)
    services.wechat.send_template("oa", "o-1", OA_TID, data)
    assert len(sandbox.inbox(OA["appid"], "o-1")) == 2


def test_40241_is_recorded_as_already_delivered_not_failed_nor_retried(client, services, db, sandbox, noon):
    Person(db, sandbox)
    status_event(client, "viewed")
    sandbox.inject(TEMPLATE, errcode=ALREADY_SENT, times=1)
    send_due(services)
    noon.advance(hours=1)
    send_due(services)
    assert [c.errcode for c in sandbox.calls(TEMPLATE)] == [ALREADY_SENT]
    push = only_push(db)
    assert (push.status, push.reason, push.channel, push.errcode) == (
        "sent",
        "already_sent",
        "template",
        40241,
    )
    assert explain.explain(push) == "已通过公众号模板消息发送（2026-11-30 12:00，微信已收到同一条消息）"


def test_a_push_wechat_intercepted_is_explained_as_intercepted(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    other = Person(db, sandbox, n=2)
    status_event(client, "viewed")
    status_event(client, "viewed", n=2, event="e2", application="a2")
    send_due(services)
    noon.advance(minutes=1)
    sandbox.intercept_template(OA["appid"], person.oa.openid)
    assert "template-interceptions" in {job.name for job in registered_jobs()}
    noon.advance(hours=10)
    assert check_interceptions(services) == 1
    (query,) = [c for c in sandbox.calls(QUERY) if c.errcode == 0]  # (the first found the token expired)
    assert query.body == {"tmpl_msg_id": OA_TID, "largest_id": 0, "limit": 100}
    by_account = {p.account_id: p for p in pushes(db)}
    mine, theirs = by_account[person.account.id], by_account[other.account.id]
    assert (mine.status, mine.reason) == ("failed", "intercepted")
    assert explain.explain(mine).startswith("未送达：公众号模板消息被微信拦截（2026-11-30 12:00 发送")
    assert (theirs.status, theirs.reason) == ("sent", None)
    mine_id, msgid, openid = mine.id, mine.msgid, person.oa.openid
    db.commit()
    # WeChat's later delivery report does not undo it; a second run marks nothing new
    Follower(client, openid=openid).event("TEMPLATESENDJOBFINISH", MsgID=msgid, Status="success")
    assert check_interceptions(services) == 0
    assert {p.id: p.reason for p in pushes(db)}[mine_id] == "intercepted"
