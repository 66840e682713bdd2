"""留言 end to end: the follower through signed callbacks, the agent through the console, WeChat's side in the
sandbox's record."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select

from jobs.media import fetch_media
from jobs.retention import run_retention
from jobs.sender import send_due
from tests.conftest import OA
from tests.console_helpers import form_csrf, login, make_agent
from tests.wechat_helpers import Follower
from wxbot.conversations import conversations
from wxbot.handlers import menu
from wxbot.models import Conversation, Identity, TicketMessage

CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
MEDIA = "/cgi-bin/media/get"
REPLY_TID = "oa-reply-waiting-tid"


@pytest.fixture(params=["plaintext", "safe"])
def mode(request):
    return request.param


@pytest.fixture
def config_dict(config_dict, request):
    if "mode" in request.fixturenames and request.getfixturevalue("mode") == "plaintext":
        config_dict["wechat"]["official"][0]["encoding_aes_key"] = ""  # the account in plaintext mode
    config_dict["notify"] = {
        "templates": {
            "ticket_reply": {
                "oa": {"template_id": REPLY_TID, "fields": {"thing1": "客服已回复你的留言", "time2": "{replied_at}"},
                       "url": "{link}"},
            }
        }
    }  # fmt: skip
    config_dict["console"] = {"public_url": "https://wx.example.com"}
    return config_dict


def stored(db, model=TicketMessage):
    """Rows as they are now; the read is ended at once (on SQLite an open read holds the write lock)."""
    rows = list(db.scalars(select(model).order_by(model.id).execution_options(populate_existing=True)))
    for row in rows:
        if isinstance(row, Conversation):
            db.refresh(row, ["messages"])
    db.commit()
    return rows


def follower_in_sandbox(client, sandbox):
    follower = Follower(client)  # the account's mode: plaintext without an EncodingAESKey, else safe
    sandbox.set_follower(OA["appid"], follower.openid)
    follower.follow()
    return follower


def write(follower, sandbox, text):
    """The follower writes; WeChat (the sandbox) opens its window as the real one would."""
    sandbox.touch(OA["appid"], follower.openid, "message")
    return follower.send_text(text)


def agent_reply(client, conversation_id, text, mode="chat"):
    page = client.get(f"/console/c/{conversation_id}").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    return client.post(f"/console/c/{conversation_id}/reply",
                       data={"csrf_token": form_csrf(page), "form_token": token, "body": text, "mode": mode})  # fmt: skip


def test_the_follower_flow_and_a_reply_inside_the_window(client, db, sandbox, clock, mode):
    follower = follower_in_sandbox(client, sandbox)
    assert follower.mode == mode
    opened = follower.send_text("留言")
    assert "客服会在 4 小时内" in opened.content
    first = write(follower, sandbox, "请问面试什么时候通知？")
    assert "已收到你的留言" in first.content
    assert not write(follower, sandbox, "我的投递编号是 A-17").content  # the rest: success / empty body
    assert not follower.redeliver().content  # WeChat's retry of the last one
    sandbox.touch(OA["appid"], follower.openid, "message")
    assert not follower.message("image", PicUrl="http://img.example/1.jpg", MediaId="media-1").content
    assert not follower.message("location", Location_X="39.99", Location_Y="116.48", Scale="15",
                                Label="望京").content  # fmt: skip
    messages = stored(db)
    assert [(m.kind, m.body) for m in messages] == [
        ("text", "请问面试什么时候通知？"), ("text", "我的投递编号是 A-17"), ("image", ""), ("location", ""),
    ]  # fmt: skip
    (conversation,) = stored(db, Conversation)

    # the image is fetched by the job, never in the callback, and served to agents only
    sandbox.add_media(OA["appid"], "media-1", b"\x89PNG fake image", "image/png")
    assert client.get(f"/console/media/{messages[2].id}").status_code == 302  # no session: to login
    assert fetch_media(client.application.extensions["wxbot"]) == 1

    make_agent(db)
    login(client)
    assert client.get(f"/console/media/{messages[2].id}").data == b"\x89PNG fake image"
    response = agent_reply(client, conversation.id, "您好，面试结果会在 3 个工作日内通知。")
    assert response.status_code == 302
    send_due(client.application.extensions["wxbot"])
    (call,) = sandbox.calls(CUSTOM)
    assert call.body["touser"] == follower.openid
    assert call.body["text"]["content"] == "您好，面试结果会在 3 个工作日内通知。"
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "已在聊天中发送" in page

    assert "已提交给客服" in follower.send_text("结束").content
    assert (
        "没有看懂" in follower.send_text("谢谢").content
    )  # no longer captured: the ordinary default answers
    assert len(stored(db)) == 4 + 1  # four from the follower, one reply
    assert "还在处理中" in follower.click(menu.LEAVE_MESSAGE).content  # the same conversation again


def test_phone_numbers_typed_into_a_conversation_are_kept_and_shown_masked(client, db, sandbox, clock):
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "面试能改期吗？电话 13812345678")
    (message,) = stored(db)
    assert message.body == "面试能改期吗？电话 138****5678"
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    for page in (client.get("/console/"), client.get(f"/console/c/{conversation.id}")):
        text = page.get_data(as_text=True)
        assert "138****5678" in text and "13812345678" not in text


def test_a_follow_up_soon_after_resolve_reopens_it_and_a_later_message_starts_anew(
    client, db, sandbox, clock
):
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "第一个问题")
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    client.post(f"/console/c/{conversation.id}/resolve", data={"csrf_token": form_csrf(page)})
    clock.advance(hours=23)  # within [console] reopen_hours (24) of the Resolve
    assert "重新提交给客服" in write(follower, sandbox, "还有一个问题").content
    (reopened,) = stored(db, Conversation)
    assert reopened.state == "open" and reopened.awaiting_since is not None
    assert [m.body for m in reopened.messages] == ["第一个问题", "还有一个问题"]  # the agents have it
    assert write(follower, sandbox, "补充一下").content is None  # captured as usual now
    login(client)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    client.post(f"/console/c/{conversation.id}/resolve", data={"csrf_token": form_csrf(page)})
    clock.advance(hours=25)  # past it: the default reply, and a 「留言」 starts a new conversation
    assert "没有看懂" in write(follower, sandbox, "还在吗").content
    assert "请直接发送你的问题" in follower.send_text("留言").content
    assert "已收到你的留言" in write(follower, sandbox, "第二个问题").content
    first, second = stored(db, Conversation)
    assert (first.state, second.state) == ("resolved", "open")
    assert [m.body for m in second.messages] == ["第二个问题"]


def test_help_and_reminder_keywords_are_answered_inside_an_open_conversation_and_noted(client, db, sandbox):
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "我想问个问题")
    helped = write(follower, sandbox, "帮助").content
    assert "回复“结束”结束留言" in helped and "我的数据" in helped and "注销" in helped
    assert "订阅全部" in helped
    reminders = write(follower, sandbox, "订阅全部").content
    assert "还没有关联招聘平台账号" in reminders  # the reminders' own answer (this follower has no account)
    (conversation,) = stored(db, Conversation)
    assert [m.body for m in conversation.messages][:3] == ["我想问个问题", "帮助", "订阅全部"]
    assert write(follower, sandbox, "面试地点在哪").content is None  # captured, not answered again


def test_45015_from_wechat_falls_back_to_the_template_once_and_never_loops(client, db, sandbox, clock, mode):
    follower = follower_in_sandbox(client, sandbox)
    assert follower.mode == mode
    follower.send_text("留言")
    follower.send_text("有人吗")  # our record opens the window; WeChat (the sandbox) never saw it
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    assert agent_reply(client, conversation.id, "在的，请讲").status_code == 302
    services = client.application.extensions["wxbot"]
    for _ in range(3):
        send_due(services)
    assert [c.errcode for c in sandbox.calls(CUSTOM)] == [45015]
    (template,) = sandbox.calls(TEMPLATE)
    assert template.body["template_id"] == REPLY_TID
    link = template.body["url"]
    assert link.startswith("https://wx.example.com/replies/")
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "已改用公众号模板消息" in page and "45015" in page
    assert "已在聊天中发送" not in page
    # the link shows the reply (and only the agents' replies)
    reader = client.get(link.removeprefix("https://wx.example.com")).get_data(as_text=True)
    assert "在的，请讲" in reader and "有人吗" not in reader
    assert client.get("/replies/forged-token").status_code == 404


def test_a_closed_window_is_told_before_sending_and_the_fallback_goes_instead(client, db, sandbox, clock):
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "周末能面试吗")
    make_agent(db)
    (conversation,) = stored(db, Conversation)
    clock.advance(hours=49)
    login(client)
    blocked = agent_reply(client, conversation.id, "可以的，周六上午。")
    assert blocked.status_code == 409
    page = blocked.get_data(as_text=True)
    assert "回复窗口已关闭" in page and "可以的，周六上午。" in page  # the draft is kept
    assert stored(db)[-1].direction == "inbound"  # nothing queued
    assert agent_reply(client, conversation.id, "可以的，周六上午。", mode="fallback").status_code == 302
    send_due(client.application.extensions["wxbot"])
    assert sandbox.calls(CUSTOM) == []
    assert len(sandbox.calls(TEMPLATE)) == 1
    assert "已改用公众号模板消息" in client.get(f"/console/c/{conversation.id}").get_data(as_text=True)


def test_a_spent_budget_is_told_and_45047_from_wechat_falls_back(client, db, sandbox, clock):
    follower = follower_in_sandbox(client, sandbox)
    clock.advance(minutes=2)  # the follow's own one-minute allowance is over: only the message's five count
    follower.send_text("留言")
    write(follower, sandbox, "问题一")
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    services = client.application.extensions["wxbot"]
    sandbox.inject(CUSTOM, errcode=45047, times=1)
    agent_reply(client, conversation.id, "回复一")
    send_due(services)
    assert [c.errcode for c in sandbox.calls(CUSTOM)] == [45047]
    assert len(sandbox.calls(TEMPLATE)) == 1
    for n in range(4):  # the rest of our record's budget of five
        agent_reply(client, conversation.id, f"回复{n + 2}")
    send_due(services)
    assert len(sandbox.calls(CUSTOM)) == 5
    blocked = agent_reply(client, conversation.id, "回复六")
    assert blocked.status_code == 409 and "回复条数已用完" in blocked.get_data(as_text=True)


def test_a_failed_reply_shows_the_errcode_and_is_never_shown_as_sent(client, db, sandbox, clock):
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "hello")
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    sandbox.inject(CUSTOM, errcode=48001, times=1)
    agent_reply(client, conversation.id, "answer")
    send_due(client.application.extensions["wxbot"])
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "WeChat error 48001" in page and "failed" in page and "已在聊天中发送" not in page


def test_two_agents_replying_at_once_both_reach_the_follower_once(app, db, sandbox, clock):
    alice_client, bob_client = app.test_client(), app.test_client()
    follower = follower_in_sandbox(alice_client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "急")
    make_agent(db, "alice")
    make_agent(db, "bob")
    login(alice_client, "alice")
    login(bob_client, "bob")
    (conversation,) = stored(db, Conversation)
    forms = {}
    for name, c in (("alice", alice_client), ("bob", bob_client)):
        page = c.get(f"/console/c/{conversation.id}").get_data(as_text=True)
        forms[name] = (c, form_csrf(page), re.search(r'name="form_token" value="([^"]+)"', page).group(1))
    barrier = threading.Barrier(4, timeout=20)
    statuses = []

    def post(name):
        c, csrf, token = forms[name]
        barrier.wait()
        response = c.post(f"/console/c/{conversation.id}/reply",
                          data={"csrf_token": csrf, "form_token": token, "body": f"{name} here", "mode": "chat"})  # fmt: skip
        statuses.append(response.status_code)

    # each agent's form twice (a double click): two replies in all
    threads = [threading.Thread(target=post, args=(n,)) for n in ("alice", "bob", "alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [302] * 4
    send_due(app.extensions["wxbot"])
    texts = sorted(c.body["text"]["content"] for c in sandbox.calls(CUSTOM))
    assert texts == ["alice here", "bob here"]
    assert [m.direction for m in stored(db)].count("outbound") == 2


def test_two_copies_of_one_delivery_at_once_store_one_message(app, db, sandbox, clock):
    client = app.test_client()
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    fields = follower.fields(MsgType="text", Content="只说一次", MsgId="987654321")
    from tests.wechat_helpers import xml_of

    xml = xml_of(fields)
    barrier = threading.Barrier(2, timeout=20)
    replies = []

    def deliver():
        copy = Follower(app.test_client(), openid=follower.openid)
        barrier.wait()
        replies.append(copy.deliver(xml))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 200 for r in replies)
    assert [m.body for m in stored(db)] == ["只说一次"]
    assert len(stored(db, Identity)) == 1


def test_an_unsubscribe_forgets_the_conversation_and_resolved_ones_expire(
    client, db, sandbox, clock, services
):
    leaver = follower_in_sandbox(client, sandbox)
    leaver.send_text("留言")
    leaver.send_text("再见")
    stayer = follower_in_sandbox(client, sandbox)
    stayer.send_text("留言")
    stayer.send_text("问题")
    agent = make_agent(db)
    assert len(stored(db, Conversation)) == 2
    leaver.unfollow()
    (kept,) = stored(db, Conversation)
    assert [m.body for m in kept.messages] == ["问题"]

    conversations.resolve(db, kept, agent)
    db.commit()
    clock.advance(days=services.settings.retention.resolved_conversations_days, seconds=1)
    run_retention(services)
    assert stored(db, Conversation) == [] and stored(db) == []


def test_a_failed_media_fetch_is_told_in_words_retried_and_fetched_again_on_an_agents_request(
    client, db, sandbox
):
    services = client.application.extensions["wxbot"]
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    follower.message("image", PicUrl="http://img.example/1.jpg", MediaId="media-busy")
    follower.message("image", PicUrl="http://img.example/2.jpg", MediaId="media-gone")
    sandbox.add_media(OA["appid"], "media-busy", b"\x89PNG busy", "image/png")
    sandbox.inject(MEDIA, errcode=-1, times=1)  # busy once: tried again on the next run by itself
    assert fetch_media(services) == 0  # the busy one waits; the unknown media id fails for good
    assert fetch_media(services) == 1
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "微信已不再保存这个文件" in page  # 40007, in words
    assert "WeChat error" not in page and "重新获取" in page
    gone = stored(db)[-1]
    assert gone.media_status == "failed"
    again = f"/console/c/{conversation.id}/m/{gone.id}/fetch"
    assert client.post(again, data={"csrf_token": form_csrf(page)}).status_code == 302
    sandbox.add_media(OA["appid"], "media-gone", b"\x89PNG late", "image/png")
    assert fetch_media(services) == 1
    assert client.get(f"/console/media/{gone.id}").data == b"\x89PNG late"
    refused = client.post(again, data={"csrf_token": form_csrf(page)})  # stored now: nothing to fetch
    assert refused.status_code == 302
    assert "无需重新获取" in client.get(refused.headers["Location"]).get_data(as_text=True)
