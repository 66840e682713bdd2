"""Live pages in Chromium: the inbox and the thread update themselves, without a reload."""

from __future__ import annotations

import pytest

from jobs.sender import send_due
from tests.browser_helpers import log_in
from tests.console_helpers import make_agent, make_conversation
from tests.test_tickets_flow import follower_in_sandbox, stored, write
from wxbot.models import Conversation

pytestmark = pytest.mark.browser


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


def test_a_new_conversation_appears_in_an_open_inbox(page, live_url, db):
    make_agent(db)
    first = make_conversation(db, "o-live-1", text="第一个问题")
    log_in(page, live_url)
    page.wait_for_selector(f"#conv-{first.id}")
    page.evaluate("window.notReloaded = true")
    second = make_conversation(db, "o-live-2", text="新来的问题", msg_id="5002")
    page.wait_for_selector(f"#conv-{second.id}")
    assert "新来的问题" in page.locator(f"#conv-{second.id}").inner_text()
    assert page.locator(".tabs a[aria-current] .count").inner_text() == "2"
    assert page.evaluate("window.notReloaded") is True


def test_a_followers_message_and_a_replys_delivery_appear_in_an_open_thread(
    page, live_url, client, db, sandbox, services, clock
):
    from playwright.sync_api import expect

    follower = follower_in_sandbox(client, sandbox)
    clock.advance(minutes=2)  # the follow's one-minute allowance is over: only the message's five count
    follower.send_text("留言")
    write(follower, sandbox, "请问周末可以面试吗？")
    make_agent(db)
    (conversation,) = stored(db, Conversation)
    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conversation.id}")
    page.fill("form#reply textarea[name=body]", "可以的，周六上午十点。")
    page.click("form#reply button[type=submit]")
    page.wait_for_selector(".msg.outbound")
    assert "发送中" in page.locator(".msg.outbound .delivery").inner_text()
    assert "还可回复 4 条" in page.locator("#window").inner_text()  # the reply took its slot when queued
    page.evaluate("window.notReloaded = true")

    send_due(services)  # WeChat takes it: the badge changes by itself
    expect(page.locator(".msg.outbound .delivery")).to_contain_text("已在聊天中发送")
    write(follower, sandbox, "那我周六上午过去")  # the follower writes: the message and a fresh budget
    page.wait_for_selector("text=那我周六上午过去")
    expect(page.locator("#window")).to_contain_text("还可回复 5 条")
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("form#reply textarea[name=body]").count() == 1  # the form was left alone


def test_an_unchanged_part_costs_a_304_and_a_poll_keeps_no_idle_session_alive(client, db, clock):
    from tests.console_helpers import login

    make_agent(db)
    make_conversation(db, "o-live-3")
    login(client)
    first = client.get("/console/live?state=open")
    assert first.status_code == 200 and "o-live-3" not in first.get_data(as_text=True)  # no openid shown
    again = client.get("/console/live?state=open", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    clock.advance(minutes=90)
    assert client.get("/console/live?state=open").status_code in (200, 304)
    clock.advance(minutes=40)  # 130 minutes since the agent last did something, polled all along
    assert client.get("/console/live?state=open").status_code == 401
    assert client.get("/console/live?state=bogus").status_code in (400, 401)
