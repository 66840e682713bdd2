"""Nothing typed is lost (in Chromium): canned replies go in at the cursor, a draft survives a reload and an
expired session, which is told in Chinese and leads back to the draft after logging in."""

from __future__ import annotations

import pytest

from tests.browser_helpers import log_in
from tests.console_helpers import PASSWORD, make_agent, make_conversation
from wxbot.conversations import canned, reply_window

pytestmark = pytest.mark.browser


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


def test_a_canned_reply_goes_in_at_the_cursor_and_the_draft_survives_a_reload(page, live_url, db):
    make_agent(db)
    conv = make_conversation(db, "o-draft-1")
    canned.save(db, title="面试时间", body="面试一般安排在工作日上午")
    reply_window.record_trigger(db, conv.identity_id, "message")
    db.commit()
    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conv.id}")
    box = page.locator("form#reply textarea[name=body]")
    box.fill("您好，。祝顺利")
    box.evaluate("b => b.setSelectionRange(3, 3)")  # after 「您好，」
    page.click("a[data-canned]")
    assert box.input_value() == "您好，面试一般安排在工作日上午。祝顺利"
    assert "canned=" not in page.url  # no page load: nothing else in the box was touched
    page.reload()
    assert (
        page.locator("form#reply textarea[name=body]").input_value()
        == "您好，面试一般安排在工作日上午。祝顺利"
    )
    page.click("form#reply button[type=submit]")
    page.wait_for_selector(".msg.outbound")
    assert page.locator("form#reply textarea[name=body]").input_value() == ""  # sent: the draft is gone
    page.reload()
    assert page.locator("form#reply textarea[name=body]").input_value() == ""


def test_a_draft_survives_an_expired_session_and_comes_back_after_logging_in(page, live_url, db, clock):
    make_agent(db)
    conv = make_conversation(db, "o-draft-2")
    reply_window.record_trigger(db, conv.identity_id, "message")
    db.commit()
    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conv.id}")
    page.fill("form#reply textarea[name=body]", "这是一段很长的回复，写到一半")
    clock.advance(hours=3)  # the agent stepped away: the session ends after 2 idle hours
    notice = page.locator("#session-ended")
    notice.wait_for(state="visible")
    assert "登录已过期，请重新登录" in notice.inner_text()
    page.click("form#reply button[type=submit]")  # sent anyway
    page.wait_for_url("**/console/login**")
    assert "登录已结束，请重新登录" in page.locator(".notice.error").inner_text()  # not Werkzeug's 401
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/console/c/{conv.id}")
    assert page.locator("form#reply textarea[name=body]").input_value() == "这是一段很长的回复，写到一半"
    assert page.locator(".msg.outbound").count() == 0  # nothing was sent without a session
