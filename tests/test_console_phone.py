"""The console on a phone (390×844, Chromium): no sideways scroll, the inbox as cards, the thread's actions
within reach, the header whole."""

from __future__ import annotations

import pytest

from tests.browser_helpers import log_in, screenshot
from tests.console_helpers import make_agent, make_conversation
from wxbot.conversations import reply_window

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_inbox_and_thread_fit_a_phone_with_the_actions_in_reach(phone, live_url, db, tmp_path):
    make_agent(db)
    long_text = "请问一下贵公司的后端开发岗位面试一般安排在什么时候，需要准备哪些材料，" * 4
    conv = make_conversation(db, "o-phone-1", text=long_text)
    make_conversation(db, "o-phone-2", text="简历怎么修改", msg_id="5002")
    reply_window.record_trigger(db, conv.identity_id, "message")
    db.commit()
    log_in(phone, live_url)
    assert no_sideways_scroll(phone)
    header = phone.locator("header.top").bounding_box()
    assert header["x"] >= 0 and header["x"] + header["width"] <= PHONE["width"]
    assert phone.locator("text=退出登录").is_visible()
    card = phone.locator(f"#conv-{conv.id}").bounding_box()
    assert card["width"] <= PHONE["width"]  # a card, not a wide table row
    screenshot(phone, tmp_path, "inbox-phone")

    phone.click(f"a[href='/console/c/{conv.id}']")
    phone.wait_for_selector("form#reply")
    assert no_sideways_scroll(phone)
    for button in ("认领", "结束会话"):  # Claim and Resolve before the thread, not at the bottom
        box = phone.locator(f"button:text-is('{button}')").bounding_box()
        assert box is not None and box["y"] < PHONE["height"], button
    screenshot(phone, tmp_path, "conversation-phone")


def test_a_reply_on_a_conversation_another_agent_claimed_needs_the_warning_acknowledged(page, live_url, db):
    from wxbot.conversations import conversations

    make_agent(db)
    bob = make_agent(db, "bob")
    conv = make_conversation(db, "o-claimed-1")
    reply_window.record_trigger(db, conv.identity_id, "message")
    conversations.claim(db, conv, bob)
    db.commit()
    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conv.id}")
    assert "bob 已认领该会话" in page.locator("#claimed-by-other").inner_text()
    page.fill("form#reply textarea[name=body]", "我来回答")
    page.click("form#reply button[type=submit]")  # the browser holds the form: the box is required
    assert page.locator(".msg.outbound").count() == 0
    page.eval_on_selector("input[name=over_claim]", "box => box.removeAttribute('required')")
    page.click("form#reply button[type=submit]")  # past the browser: the server refuses it too
    page.wait_for_selector("#claimed-by-other")
    assert page.locator(".msg.outbound").count() == 0
    assert page.locator("form#reply textarea[name=body]").input_value() == "我来回答"
    page.check("input[name=over_claim]")
    page.click("form#reply button[type=submit]")
    page.wait_for_selector(".msg.outbound")
