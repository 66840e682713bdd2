"""The reply budget cannot over-commit, and only a reply WeChat took counts as an answer."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jobs.sender import send_due
from tests.console_helpers import login, make_agent
from tests.test_tickets_flow import CUSTOM, TEMPLATE, agent_reply, follower_in_sandbox, stored, write
from wxbot.models import Conversation
from wxbot.models.outbox import Notification


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"public_url": "https://wx.example.com"}  # no ticket_reply template: no fallback
    return config_dict


def open_conversation(client, db, sandbox, clock):
    follower = follower_in_sandbox(client, sandbox)
    clock.advance(minutes=2)  # the follow's one-minute allowance is over: only the message's five count
    follower.send_text("留言")
    write(follower, sandbox, "请问面试时间？")
    make_agent(db)
    login(client)
    (conversation,) = stored(db, Conversation)
    return follower, conversation


def queued(db) -> int:
    count = db.scalar(
        select(func.count()).select_from(Notification).where(Notification.purpose == "ticket_reply")
    )
    db.commit()
    return count


def test_six_replies_against_a_budget_of_five_the_sixth_is_refused_before_anything_is_sent(
    client, db, sandbox, clock, services
):
    _, conversation = open_conversation(client, db, sandbox, clock)
    for n in range(5):  # within a moment: nothing has been sent yet
        assert agent_reply(client, conversation.id, f"回复{n + 1}").status_code == 302
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "回复条数已用完" in page  # told before typing the sixth
    sixth = agent_reply(client, conversation.id, "回复6")
    assert sixth.status_code == 409 and "回复条数已用完" in sixth.get_data(as_text=True)
    assert "回复6" in sixth.get_data(as_text=True)  # the draft is kept
    # and no fallback offered: none is configured, and the page says so
    assert "也无法通过通知联系该用户" in sixth.get_data(as_text=True) and "没有配置模板" in sixth.get_data(
        as_text=True
    )
    assert queued(db) == 5
    send_due(services)
    calls = sandbox.calls(CUSTOM)
    assert [c.body["text"]["content"] for c in calls] == [f"回复{n + 1}" for n in range(5)]
    assert all(c.errcode == 0 for c in calls)
    assert db.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent")) == 5


def test_an_undelivered_reply_leaves_the_conversation_open_and_out_of_the_statistics(
    client, db, sandbox, clock, services
):
    _, conversation = open_conversation(client, db, sandbox, clock)
    sandbox.inject(CUSTOM, errcode=45015, times=1)  # WeChat: the window closed; no fallback is configured
    agent_reply(client, conversation.id, "第一条回复")
    send_due(services)
    assert sandbox.calls(TEMPLATE) == []
    (conv,) = stored(db, Conversation)
    assert conv.state == "open" and conv.first_response_at is None and conv.awaiting_since is not None
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "未送达" in page
    assert "badge undelivered" in client.get("/console/").get_data(as_text=True)  # marked in the inbox
    stats = client.get("/console/stats").get_data(as_text=True)
    assert "已回复 0 个" in stats

    agent_reply(client, conversation.id, "第二条回复")
    (conv,) = stored(db, Conversation)
    assert conv.state == "open"  # queued is not answered
    send_due(services)
    (conv,) = stored(db, Conversation)
    assert conv.state == "waiting" and conv.first_response_at is not None and conv.awaiting_since is None
    assert "已回复 1 个" in client.get("/console/stats").get_data(as_text=True)
    assert "badge undelivered" not in client.get("/console/").get_data(as_text=True)


def test_a_closed_window_with_no_fallback_configured_says_so_and_queues_nothing(client, db, sandbox, clock):
    _, conversation = open_conversation(client, db, sandbox, clock)
    clock.advance(hours=49)
    login(client)  # (the session ended meanwhile)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "回复窗口已关闭" in page and "没有配置模板" in page and 'value="fallback"' not in page
    refused = agent_reply(client, conversation.id, "周六可以", mode="fallback")
    assert refused.status_code == 409 and "周六可以" in refused.get_data(as_text=True)
    assert queued(db) == 0
