"""The sandbox's mini-program user in Chromium, as `make run` serves it: log in (the sandbox issues the js_code),
authorise the phone, scan an event's code and sign up, allow the reply-waiting message, open customer service
and write, and see the agent's reply WeChat delivers; every step through the real /mp API and message push."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.browser_helpers import browser, page  # noqa: F401
from tests.conftest import MP
from tests.console_helpers import login, make_agent
from tests.events_helpers import event_payload
from tests.helpers import platform_post
from tests.test_sandbox_page import live  # noqa: F401
from tests.test_tickets_flow import agent_reply
from wxbot.models import Conversation, EventCode

pytestmark = pytest.mark.browser
REPLY_TID = "mp-reply-waiting-tid"


@pytest.fixture
def config_dict(config_dict):
    config_dict["wechat"]["miniprogram"][0].update(token="mptoken", data_format="json")
    config_dict["console"] = {"secure_cookie": False, "public_url": "http://127.0.0.1"}
    config_dict["notify"] = {"templates": {"ticket_reply": {"mp": {
        "template_id": REPLY_TID, "fields": {"thing1": "客服已回复你的留言", "time2": "{replied_at}"}}}}}  # fmt: skip
    return config_dict


def test_from_login_to_a_sign_up_and_a_customer_service_reply(live, page):  # noqa: F811
    client = live.app.test_client()
    assert (
        platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"}).status_code
        < 300
    )
    assert platform_post(client, "/platform/events", event_payload(capacity=5)).status_code == 201
    code = platform_post(client, "/platform/events/ev-1/code", {"source": "poster"})
    assert code.status_code == 201, code.get_json()

    page.goto(f"{live.url}/sandbox/mp/?app=mp")
    page.click("#login")
    page.locator("#me", has_text="未绑定手机号").wait_for()
    page.click("#authorise")
    page.locator("#me", has_text="已绑定账号 p-1").wait_for()
    assert "138****8000" in page.inner_text("#me")

    page.locator("#codes img").first.click()  # scan the poster's code
    page.locator("#scanned", has_text="扫码打开").wait_for()
    page.locator("#event-list button[data-event=ev-1]").click()
    page.locator("#scanned", has_text="报名成功").wait_for()
    session = live.services.session_factory()
    (counted,) = session.scalars(select(EventCode)).all()
    assert (counted.scans, counted.signups) == (1, 1)
    session.commit()  # on SQLite an open read holds the write lock the app needs next

    page.click("#allow-reply")
    page.locator("#subscribe-result", has_text="已允许").wait_for()
    page.click("#enter-chat")
    page.fill("#chat-text", "请问宣讲会可以带简历吗？")
    page.click("#chat-send")
    page.locator("#inbox li.follower", has_text="宣讲会可以带简历吗").wait_for()

    session.expire_all()
    (conversation,) = session.scalars(select(Conversation)).all()
    assert [m.body for m in conversation.messages if m.kind == "text"] == ["请问宣讲会可以带简历吗？"]
    session.commit()
    make_agent(session)
    session.close()
    login(client)
    assert agent_reply(client, conversation.id, "可以，欢迎带纸质简历。").status_code == 302
    send_due(live.services)
    page.locator("#inbox li.delivered", has_text="欢迎带纸质简历").wait_for()
    (custom,) = live.state.calls("/cgi-bin/message/custom/send")
    assert custom.appid == MP["appid"]
