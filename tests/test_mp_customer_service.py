"""One inbox for both doors: the mini program's customer-service chat (its 消息推送 at /wechat/mp/<name>),
driven with signed (and encrypted) deliveries in XML and JSON, into the same 留言 conversations as the
official account's, answered from the console; WeChat's side in the sandbox's record."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from jobs.media import fetch_media
from jobs.sender import send_due
from tests.conftest import AES_KEY, MP, OA
from tests.console_helpers import form_csrf, login, make_agent
from tests.mp_push_helpers import MpUser
from tests.test_tickets_flow import agent_reply, follower_in_sandbox, stored, write
from wxbot.models import Conversation, Identity, InboundMessage, TicketMessage
from wxbot.push import grants

CUSTOM = "/cgi-bin/message/custom/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
UPLOAD = "/cgi-bin/media/upload"
REPLY_TID = "mp-reply-waiting-tid"


@pytest.fixture
def config_dict(config_dict, request):
    config_dict["wechat"]["miniprogram"][0].update(
        token="mptoken", encoding_aes_key=AES_KEY, original_id="gh_mp0000000001", data_format="json"
    )
    for key in ("mode", "data_format"):  # the parametrised tests' choice
        if key in request.fixturenames:
            config_dict["wechat"]["miniprogram"][0][key] = request.getfixturevalue(key)
    config_dict["notify"] = {
        "templates": {
            "ticket_reply": {
                "mp": {"template_id": REPLY_TID, "fields": {"thing1": "客服已回复你的留言", "time2": "{replied_at}"},
                       "page": "pages/replies/index"},
            }
        }
    }  # fmt: skip
    config_dict["console"] = {"public_url": "https://wx.example.com"}
    return config_dict


def mp_user(client, sandbox, **kwargs):
    user = MpUser(client, **kwargs)
    sandbox.set_follower(MP["appid"], user.openid)
    return user


def say(user, sandbox, text):
    """The user writes in the chat; WeChat (the sandbox) opens its window as the real one would."""
    sandbox.touch(MP["appid"], user.openid, "message")
    return user.text(text)


@pytest.mark.parametrize("data_format", ["xml", "json"])
@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_every_mode_and_format_lands_once_in_a_conversation(client, db, mode, data_format):
    user = MpUser(client)
    assert (user.mode, user.data_format) == (mode, data_format)
    answer = user.text("请问怎么修改简历？")
    assert (answer.status, answer.text) == (200, "success" if mode == "plaintext" else "")
    assert user.redeliver().status == 200  # WeChat's retry: answered, not stored again
    assert user.card("岗位详情", "pages/job/index?id=7").status == 200
    (conversation,) = stored(db, Conversation)
    assert conversation.identity.kind == "miniprogram" and conversation.identity.openid == user.openid
    assert [(m.kind, m.body) for m in conversation.messages] == [
        ("text", "请问怎么修改简历？"),
        ("miniprogrampage", ""),
    ]
    assert "pages/job/index?id=7" in conversation.messages[1].details
    assert len(stored(db, InboundMessage)) == 2


def test_url_verification_and_what_is_refused(client, db, config_dict):
    user = MpUser(client)
    good = user.verify()
    assert (good.status_code, good.get_data(as_text=True)) == (200, "4375120948345356249")
    assert user.verify(tamper=True).status_code == 403
    assert client.get("/wechat/mp/nosuch").status_code == 404
    raw = user.encode(user.fields(MsgType="text", Content="hi", MsgId=1))
    assert user.deliver(raw, tamper="signature").status == 403
    assert user.deliver(raw, tamper="msg_signature").status == 403  # the ciphertext's own signature
    assert user.deliver(raw, timestamp=1).status == 403  # outside the timestamp window
    assert MpUser(client, mode="plaintext").text("明文").status == 403  # safe mode takes encrypted only
    assert user.deliver(b"{not json").status == 400
    assert user.deliver(b"x" * (64 * 1024 + 1)).status == 413
    wrong_account = user.fields(MsgType="text", Content="hi", MsgId=2, ToUserName="gh_other")
    assert user.deliver(user.encode(wrong_account), wrong_account).status == 403
    missing = {"ToUserName": "gh_mp0000000001", "MsgType": "text", "Content": "no sender"}
    assert user.deliver(user.encode(missing), missing).status == 400
    assert stored(db, InboundMessage) == []


def test_without_a_token_the_mini_program_has_no_message_push(tmp_path):
    from tests.conftest import base_config
    from wxbot import create_app
    from wxbot.config import settings_from_dict

    raw = base_config(tmp_path)  # the test mini program as configured by default: no token
    app = create_app(settings_from_dict(raw, env={}))
    assert app.test_client().post("/wechat/mp/mp", data=b"{}").status_code == 404
    assert app.test_client().get("/wechat/mp/mp").status_code == 404


def test_the_same_person_through_both_doors_is_one_conversation_answered_where_they_wrote(
    client, db, sandbox, clock
):
    # a follower of the official account opened 留言 there; the same person (unionid) logged in to the mini
    # program, and later writes through its customer service
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "公众号里问一下")
    user = mp_user(client, sandbox)
    oa_identity = db.scalar(select(Identity).where(Identity.openid == follower.openid))
    oa_identity.unionid = "union-1"
    db.add(
        Identity(app_name="mp", appid=MP["appid"], kind="miniprogram", openid=user.openid, unionid="union-1")
    )
    db.commit()
    clock.advance(hours=49)  # the official account's window has closed; the mini program's opens now
    say(user, sandbox, "小程序里继续问")
    (conversation,) = stored(db, Conversation)
    assert [m.body for m in conversation.messages] == ["公众号里问一下", "小程序里继续问"]
    assert conversation.messages[1].app_name == "mp"

    make_agent(db)
    login(client)
    inbox = client.get("/console/").get_data(as_text=True)
    assert "小程序 mp" in inbox
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "小程序 mp" in page and "公众号 oa" in page
    assert "本窗口还可回复 5 条" in page
    assert agent_reply(client, conversation.id, "您好，已为您查询。").status_code == 302
    send_due(client.application.extensions["wxbot"])
    (call,) = sandbox.calls(CUSTOM)
    assert call.appid == MP["appid"] and call.body["touser"] == user.openid
    assert call.body["text"]["content"] == "您好，已为您查询。"
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "已在聊天中发送" in page and "本窗口还可回复 4 条" in page

    # back on the official account: the door follows the user
    write(follower, sandbox, "又回到公众号")
    agent_reply(client, conversation.id, "收到")
    send_due(client.application.extensions["wxbot"])
    assert [c.appid for c in sandbox.calls(CUSTOM)] == [MP["appid"], OA["appid"]]


def test_entering_the_chat_opens_one_minute_and_two_messages(client, db, sandbox, clock):
    user = mp_user(client, sandbox)
    say(user, sandbox, "在吗")
    clock.advance(hours=49)  # the message's 48 hours are over
    sandbox.touch(MP["appid"], user.openid, "action")
    assert user.enter("contact-button").status == 200
    (conversation,) = stored(db, Conversation)
    assert [m.kind for m in conversation.messages] == ["text", "tempsession"]
    make_agent(db)
    login(client)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "本窗口还可回复 2 条" in page and "contact-button" in page
    for text in ("第一条", "第二条"):
        assert agent_reply(client, conversation.id, text).status_code == 302
    send_due(client.application.extensions["wxbot"])
    assert [c.errcode for c in sandbox.calls(CUSTOM)] == [0, 0]
    blocked = agent_reply(client, conversation.id, "第三条")
    assert blocked.status_code == 409 and "本窗口的回复条数已用完" in blocked.get_data(as_text=True)
    clock.advance(minutes=2)
    blocked = agent_reply(client, conversation.id, "第三条")
    assert blocked.status_code == 409 and "回复窗口已关闭" in blocked.get_data(as_text=True)


def test_entering_the_chat_alone_opens_no_conversation(client, db, sandbox):
    user = mp_user(client, sandbox)
    assert user.enter().status == 200
    assert stored(db, Conversation) == []
    assert len(stored(db, InboundMessage)) == 1  # kept in the inbound log, and its window opened


def test_outside_the_window_the_fallback_is_the_subscribe_message_the_user_allowed(
    client, db, sandbox, clock
):
    user = mp_user(client, sandbox)
    say(user, sandbox, "什么时候面试？")
    (conversation,) = stored(db, Conversation)
    grants.record_grant(db, conversation.identity_id, REPLY_TID, source="test")
    db.commit()
    sandbox.grant_subscription(MP["appid"], user.openid, REPLY_TID)
    clock.advance(hours=49)
    make_agent(db)
    login(client)
    assert agent_reply(client, conversation.id, "下周一").status_code == 409
    assert agent_reply(client, conversation.id, "下周一", mode="fallback").status_code == 302
    send_due(client.application.extensions["wxbot"])
    assert sandbox.calls(CUSTOM) == []
    (call,) = sandbox.calls(SUBSCRIBE)
    assert call.appid == MP["appid"] and call.body["template_id"] == REPLY_TID
    assert "已改用小程序订阅消息通知用户有回复" in client.get(f"/console/c/{conversation.id}").get_data(
        as_text=True
    )


def test_an_image_from_the_chat_is_fetched_with_the_mini_programs_token(client, db, sandbox, clock):
    user = mp_user(client, sandbox)
    sandbox.touch(MP["appid"], user.openid, "message")
    assert user.image("mp-media-1").status == 200
    sandbox.add_media(MP["appid"], "mp-media-1", b"\x89PNG from the chat", "image/png")
    assert fetch_media(client.application.extensions["wxbot"]) == 1
    (message,) = stored(db, TicketMessage)
    assert (message.kind, message.media_status) == ("image", "stored")
    make_agent(db)
    login(client)
    assert client.get(f"/console/media/{message.id}").data == b"\x89PNG from the chat"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # enough of a PNG for the type checks


def image_reply(client, conversation_id, content, name="reply.png"):
    page = client.get(f"/console/c/{conversation_id}").get_data(as_text=True)
    token = "image-" + re.search(r'name="form_token" value="([^"]+)"', page).group(
        1
    )  # the form may be hidden
    return client.post(f"/console/c/{conversation_id}/reply-image", content_type="multipart/form-data",
                       data={"csrf_token": form_csrf(page), "form_token": token,
                             "image": (io.BytesIO(content), name)})  # fmt: skip


def test_an_image_reply_goes_through_the_mini_programs_custom_send(client, db, sandbox, clock):
    user = mp_user(client, sandbox)
    say(user, sandbox, "能发一下宣讲会地图吗？")
    (conversation,) = stored(db, Conversation)
    make_agent(db)
    login(client)
    assert 'id="reply-image"' in client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert image_reply(client, conversation.id, b"GIF89a not an image we send").status_code == 400
    assert sandbox.calls(UPLOAD) == []
    assert image_reply(client, conversation.id, PNG).status_code == 302
    send_due(client.application.extensions["wxbot"])
    (upload,) = sandbox.calls(UPLOAD)
    (call,) = sandbox.calls(CUSTOM)
    assert upload.appid == call.appid == MP["appid"]
    assert call.body["msgtype"] == "image" and call.body["touser"] == user.openid
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "已在聊天中发送" in page and "本窗口还可回复 4 条" in page
    reply = stored(db)[-1]
    assert (reply.direction, reply.kind, reply.media_status) == ("outbound", "image", "stored")
    assert client.get(f"/console/media/{reply.id}").data == PNG
    clock.advance(hours=49)
    login(client)  # the console session ended meanwhile
    blocked = image_reply(client, conversation.id, PNG)
    assert blocked.status_code == 409 and "回复窗口已关闭" in blocked.get_data(as_text=True)
    assert len(sandbox.calls(UPLOAD)) == 1  # refused before anything went to WeChat
