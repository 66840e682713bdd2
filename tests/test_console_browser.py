"""The console in a real browser: Playwright driving Debian's Chromium against the app on a loopback port."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from jobs.sender import send_due
from tests.conftest import OA
from tests.console_helpers import PASSWORD, make_agent, make_conversation
from wxbot.conversations import reply_window

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


@pytest.fixture
def live_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("WXBOT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def log_in(page: Any, live_url: str, username: str = "alice") -> None:
    page.goto(f"{live_url}/console/")
    assert "/console/login" in page.url  # no session: sent to login
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/console/")


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
    assert "left" in rows.nth(0).inner_text() and "请问周末" in rows.nth(0).inner_text()  # open window first
    assert "closed" in rows.nth(1).inner_text()
    screenshot(page, tmp_path, "inbox")

    page.click(f"a[href='/console/c/{conv.id}']")
    page.fill("form#reply textarea[name=body]", "可以的，周六上午十点。")
    page.click("form#reply button[type=submit]")
    page.wait_for_selector(".msg.outbound")
    assert "sending" in page.locator(".msg.outbound .delivery").inner_text()

    send_due(services)
    page.reload()
    assert page.locator(".msg.outbound .delivery").inner_text().startswith("sent in the chat")
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
    assert "security token" in page.content()
    page.goto(f"{live_url}/console/c/{conv.id}")
    assert "should not be stored" not in page.content()


def test_logging_out_ends_the_session(page, live_url, db):
    make_agent(db)
    log_in(page, live_url)
    page.click("text=Log out")
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
