"""The console in a real browser: Playwright driving Debian's Chromium against the app on a loopback port."""

from __future__ import annotations

import pytest

from jobs.sender import send_due
from tests.browser_helpers import log_in, screenshot
from tests.conftest import OA
from tests.console_helpers import make_agent, make_conversation
from wxbot.conversations import reply_window

pytestmark = pytest.mark.browser


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


def test_log_in_open_reply_and_see_the_delivery_state(page, live_url, db, services, sandbox, tmp_path):
    make_agent(db)
    conv = make_conversation(db, "o-browser-1", text="请问周末可以面试吗？")
    make_conversation(db, "o-browser-2", text="简历怎么修改", msg_id="5002")
    reply_window.record_trigger(db, conv.identity_id, "message")
    db.commit()
    sandbox.set_follower(OA["appid"], "o-browser-1")
    sandbox.touch(OA["appid"], "o-browser-1", "message")

    log_in(page, live_url)
    rows = page.locator("table.inbox tbody tr")
    assert rows.count() == 2
    assert "还剩" in rows.nth(0).inner_text() and "请问周末" in rows.nth(0).inner_text()  # open window first
    assert "已关闭" in rows.nth(1).inner_text()
    screenshot(page, tmp_path, "inbox")

    page.click(f"a[href='/console/c/{conv.id}']")
    page.fill("form#reply textarea[name=body]", "可以的，周六上午十点。")
    page.click("form#reply button[type=submit]")
    page.wait_for_selector(".msg.outbound")
    assert "发送中" in page.locator(".msg.outbound .delivery").inner_text()

    send_due(services)
    page.reload()
    assert page.locator(".msg.outbound .delivery").inner_text().startswith("已在聊天中发送")
    assert page.locator("form#reply-image").inner_text().startswith("用图片回复")  # every text in Chinese
    screenshot(page, tmp_path, "conversation")
    (call,) = sandbox.calls("/cgi-bin/message/custom/send")
    assert call.body["text"]["content"] == "可以的，周六上午十点。"


def test_a_form_without_its_csrf_token_is_refused(page, live_url, db):
    make_agent(db)
    conv = make_conversation(db, "o-browser-3")
    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conv.id}")
    page.eval_on_selector("form.note input[name=csrf_token]", "input => input.remove()")
    page.fill("form.note textarea[name=body]", "should not be stored")
    page.click("form.note button[type=submit]")
    assert "安全令牌" in page.content()
    page.goto(f"{live_url}/console/c/{conv.id}")
    assert "should not be stored" not in page.content()


def test_logging_out_ends_the_session(page, live_url, db):
    make_agent(db)
    log_in(page, live_url)
    page.click("text=退出登录")
    page.wait_for_url("**/console/login")
    page.goto(f"{live_url}/console/stats")
    assert "/console/login" in page.url


# What a hostile upstream might answer for a follower's "voice": a page that loads a script from the
# console's own origin (which `script-src 'self'` allows) and that script, which leaves marks if it runs.
HOSTILE_SCRIPT = b"document.title = 'pwned'; document.cookie = 'pwned=1; path=/'; window.pwned = true;"


def test_follower_media_runs_no_script_in_an_agents_browser(page, live_url, db, services, sandbox):
    from playwright.sync_api import Error as PlaywrightError

    from jobs.media import fetch_media
    from wxbot.conversations import conversations

    make_agent(db)
    conv = make_conversation(db, "o-browser-media")
    ids = {}
    for n, (media_id, kind) in enumerate(
        [("evil-js", "voice"), ("evil-html", "voice"), ("evil-png", "image")]
    ):
        added = conversations.add_inbound(db, conv, appid=OA["appid"], msg_id=f"70{n}", kind=kind,
                                          fields={"MediaId": media_id})  # fmt: skip
        ids[media_id] = added.message.id
    db.commit()
    script_url = f"/console/media/{ids['evil-js']}"
    html = f"<html><head><title>media</title><script src='{script_url}'></script></head>"
    html += "<body><script>document.title = 'pwned'</script></body></html>"
    sandbox.add_media(OA["appid"], "evil-js", HOSTILE_SCRIPT, "application/javascript")
    sandbox.add_media(OA["appid"], "evil-html", html.encode(), "text/html")
    sandbox.add_media(OA["appid"], "evil-png", html.encode(), "image/png")  # a lying type
    assert fetch_media(services) == 3

    log_in(page, live_url)
    page.goto(f"{live_url}/console/c/{conv.id}")  # the thread embeds the media as audio and image
    page.wait_for_selector(f"#m{ids['evil-png']} img")
    for media_id in ("evil-html", "evil-js", "evil-png"):  # the agent opens each file by its link
        try:
            page.goto(f"{live_url}/console/media/{ids[media_id]}")
        except PlaywrightError as exc:  # served as an attachment: a download, never a page
            assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc)
        assert page.title() != "pwned"
        assert page.evaluate("typeof window.pwned") == "undefined"
    assert not [c for c in page.context.cookies() if c["name"] == "pwned"]
