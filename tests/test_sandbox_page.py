"""The sandbox follower page, end to end: the app served on a loopback port with the sandbox mounted (as `make
run` serves it); the page delivers signed (and encrypted) callbacks to the bot over HTTP and shows what the
bot answered and what WeChat delivered."""

from __future__ import annotations

import html
import os
import re
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import OA
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.config.loading import DEMO_MENU, embedded_defaults
from wxbot.db import Base
from wxbot.handlers.replies import render_reply_text
from wxbot.models.identity import Identity
from wxbot.sandbox.web import mount_sandbox

PLAIN = {"name": "plain", "appid": "wxplain000000001", "appsecret": "plain-secret", "token": "plaintoken",
         "encoding_aes_key": "", "original_id": "gh_plain0000001"}  # fmt: skip


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live(config_dict):
    """The whole app with [sandbox] enabled, served on a free loopback port."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start), threaded=True,
                         request_handler=QuietHandler)  # fmt: skip
    url = f"http://127.0.0.1:{server.server_port}"
    config_dict["sandbox"] = {"enabled": True, "public_url": url}
    config_dict["wechat"]["api_base_url"] = "https://api.weixin.qq.com"  # the sandbox takes WeChat's place
    config_dict["wechat"]["official"][0]["menu"] = DEMO_MENU
    plain_menu = [*DEMO_MENU[:2], {"type": "view", "name": "官网", "url": "https://jobs.example.com/"}]
    config_dict["wechat"]["official"].append({**PLAIN, "menu": plain_menu})
    template = {"template_id": "tpl-demo-1", "fields": {"thing1": "{job_title}", "time2": "{changed_at}"}}
    # a test module's own [notify] stays; the page's demo templates fill only what it leaves unset
    templates = config_dict.setdefault("notify", {}).setdefault("templates", {})
    for key in ("status_interview", "status_hired"):
        templates.setdefault(key, {}).setdefault("oa", template)
    settings = settings_from_dict(config_dict, env={})
    app = holder["app"] = create_app(settings)
    services = app.extensions["wxbot"]
    if services.engine.dialect.name == "sqlite":
        Base.metadata.create_all(services.engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=url, app=app, services=services, state=services.sandbox)
    server.shutdown()
    thread.join(timeout=5)
    services.engine.dispose()


class Person:
    """Someone using the follower page in a browser-like session."""

    def __init__(self, live, app_name):
        self.live = live
        self.http = requests.Session()
        page = self.http.get(f"{live.url}/sandbox/", params={"app": app_name}, timeout=10)
        assert page.status_code == 200
        query = parse_qs(urlparse(page.url).query)
        self.app, self.openid = query["app"][0], query["openid"][0]

    def act(self, action, **fields):
        page = self.http.post(f"{self.live.url}/sandbox/act", timeout=30,
                              data={"app": self.app, "openid": self.openid, "action": action, **fields})  # fmt: skip
        assert page.status_code == 200, page.text
        return page

    def page(self):
        return self.http.get(
            f"{self.live.url}/sandbox/", params={"app": self.app, "openid": self.openid}, timeout=10
        )

    def lines(self, page=None):
        """The chat as shown: (css class, text) per line."""
        text = (page or self.page()).text
        found = re.findall(r'<li class="(\w+)">(?:<small>[^<]*</small>)?(.*?)</li>', text, re.S)
        return [(who, html.unescape(body)) for who, body in found]


def identity(live, app_name, openid):
    with live.services.session_factory() as session:
        return session.scalars(
            select(Identity).where(Identity.app_name == app_name, Identity.openid == openid)
        ).first()


@pytest.mark.parametrize("app_name", ["oa", "plain"])  # safe mode (the account has an AES key) and plaintext
def test_a_follower_round_trip(live, app_name):
    person = Person(live, app_name)
    assert ("wechat", "Nothing yet. Follow the account to start.") in person.lines()

    lines = person.lines(person.act("follow"))
    assert lines[-1] == ("bot", render_reply_text("welcome"))
    assert identity(live, app_name, person.openid).subscribed is True

    assert person.lines(person.act("text", content="帮助"))[-2:] == [
        ("follower", "帮助"),
        ("bot", render_reply_text("help")),
    ]

    last = person.lines(person.act("click", key="JOBS"))[-1]
    assert last[0] == "bot" and "最新职位" in last[1] and "https://jobs.example.com/latest" in last[1]

    # The bot writes later through the API; the sandbox mounted in the app delivers it into the same chat.
    live.services.wechat.send_custom(
        app_name, person.openid, {"msgtype": "text", "text": {"content": "稍后回复你"}}
    )
    assert person.lines()[-1] == ("delivered", "稍后回复你")

    person.act("unfollow")
    assert identity(live, app_name, person.openid).subscribed is False
    assert "Follow</button>" in person.page().text


def menu_of(page):
    """The menu as the page shows it: (button, [sub-entries]) per button."""
    nav = re.search(r'<nav class="menu".*?</nav>', page.text, re.S).group(0)
    buttons = []
    for block in re.findall(r'<div class="button">(.*?)</div>\s*(?=<div class="button">|</nav>)', nav, re.S):
        summary = re.search(r"<summary>☰ (.*?)</summary>", block)
        entries = [html.unescape(n) for n in re.findall(r"<button [^>]*>(.*?)</button>", block)]
        buttons.append((summary.group(1), entries) if summary else (entries[0], []))
    return buttons


def test_the_page_shows_the_menu_wechat_has_with_its_sub_menus(live):
    person = Person(live, "oa")
    person.act("follow")
    assert menu_of(person.page()) == [
        ("最新职位", []),
        ("帮助", ["使用帮助", "留言给客服"]),
        ("关于我们", []),
    ]

    # a menu/create the bot makes is what the page shows next
    live.state.official.set_menu(
        OA["appid"], {"button": [{"type": "click", "name": "只此一项", "key": "HELP"}]}
    )
    assert menu_of(person.page()) == [("只此一项", [])]
    assert person.lines(person.act("click", key="HELP"))[-1] == ("bot", render_reply_text("help"))
    assert person.http.post(f"{live.url}/sandbox/act", timeout=10, data={"app": "oa", "openid": person.openid,
                            "action": "click", "key": "JOBS"}).status_code == 400  # fmt: skip


def test_a_sub_menu_entry_and_a_view_entry_deliver_their_events(live):
    person = Person(live, "plain")
    person.act("follow")
    assert person.lines(person.act("click", key="LEAVE_MESSAGE"))[-2][1] == "（点击菜单「留言给客服」）"
    lines = person.lines(person.act("view", url="https://jobs.example.com/"))
    assert lines[-1] == ("follower", "（点击菜单「官网」，打开 https://jobs.example.com/）")
    with live.services.session_factory() as session:
        from wxbot.models import InboundMessage

        events = [
            m.fields.get("Event") for m in session.scalars(select(InboundMessage).order_by(InboundMessage.id))
        ]
    assert events[-2:] == ["CLICK", "VIEW"]


def test_the_mounted_sandbox_lists_the_configured_templates_as_the_accounts(live):
    """So that `wxbot doctor` on a laptop finds them (each template id once)."""
    from wxbot.wechat import official

    (listed,) = official.private_templates(live.services.wechat, "oa")
    assert listed["template_id"] == "tpl-demo-1"
    assert official.template_keywords(listed["content"]) == {"thing1", "time2"}
    assert official.private_templates(live.services.wechat, "plain") == []


def test_scanning_a_qr_code_the_bot_created(live):
    qrcode = live.services.wechat.create_qrcode("plain", "campus-day", 600)
    person = Person(live, "plain")

    person.act("scan", ticket=qrcode["ticket"])

    follower = identity(live, "plain", person.openid)
    assert follower.subscribed is True and follower.subscribe_scene == "campus-day"
    assert person.lines()[-1] == ("bot", render_reply_text("welcome", scene="campus-day"))


def test_impossible_actions_are_refused(live):
    person = Person(live, "plain")
    base = {"app": "plain", "openid": person.openid}
    post = lambda **f: person.http.post(f"{live.url}/sandbox/act", data={**base, **f}, timeout=10)  # noqa: E731
    assert post(action="text", content="hi").status_code == 400  # not following yet
    person.act("follow")
    assert post(action="click", key="NOT_A_KEY").status_code == 400
    assert post(action="text", content="").status_code == 400
    assert post(action="scan", ticket="made-up").status_code == 400
    assert post(action="dance").status_code == 400
    assert person.http.post(f"{live.url}/sandbox/act", data={"app": "plain", "openid": "bad openid!", "action": "follow"},
                            timeout=10).status_code == 400  # fmt: skip
    assert person.http.get(f"{live.url}/sandbox/", params={"app": "nope"}, timeout=10).status_code == 404


def test_an_unreachable_callback_shows_what_wechat_would_show(live):
    person = Person(live, "plain")
    live.services.settings.sandbox.public_url = "http://127.0.0.1:9"  # nothing listens there
    lines = person.lines(person.act("follow"))
    assert lines[-1][0] == "wechat" and "该公众号暂时无法提供服务" in lines[-1][1]


def test_the_sandbox_is_absent_unless_enabled(client, services):
    assert client.get("/sandbox/").status_code == 404
    assert client.get("/sandbox/wechat/cgi-bin/token").status_code == 404
    with pytest.raises(RuntimeError):
        mount_sandbox(client.application, services)


def test_the_embedded_defaults_talk_to_the_mounted_sandbox(tmp_path):
    raw = embedded_defaults()
    raw["app"]["var_dir"] = str(tmp_path)
    settings = settings_from_dict(raw, env={})
    assert settings.wechat.api_base_url == "http://127.0.0.1:8000/sandbox/wechat"
    assert settings.sandbox.enabled


def test_mounting_registers_the_configured_apps(live):
    token = requests.get(f"{live.url}/sandbox/wechat/cgi-bin/token", timeout=5,
                         params={"grant_type": "client_credential", "appid": OA["appid"], "secret": OA["appsecret"]})  # fmt: skip
    assert token.json()["expires_in"] == 7200
    # README's address without the slash leads to the page too
    assert requests.get(f"{live.url}/sandbox", timeout=5).url.startswith(
        f"{live.url}/sandbox/?app=oa&openid=o"
    )


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.mark.browser
def test_the_page_in_a_real_browser(live):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed (make browser)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{live.url}/sandbox/?app=oa")
            page.get_by_role("button", name="Follow").click()
            replies = page.locator("#chat li.bot")
            expect(replies.last).to_contain_text("欢迎关注")

            page.get_by_placeholder("Send a message").fill("帮助")
            page.get_by_role("button", name="Send").click()
            expect(page.locator("#chat li.follower").last).to_have_text(re.compile("帮助$"))
            expect(replies.last).to_contain_text("你可以")

            page.get_by_role("button", name="最新职位").click()
            expect(replies.last).to_contain_text("https://jobs.example.com/latest")
            page.get_by_text("☰ 帮助").click()  # the sub-menu opens above its button, as in WeChat
            page.get_by_role("button", name="留言给客服").click()
            expect(page.locator("#chat li.follower").last).to_contain_text("留言给客服")
            if os.environ.get("WXBOT_SANDBOX_SCREENSHOT"):
                page.screenshot(path=os.environ["WXBOT_SANDBOX_SCREENSHOT"], full_page=True)

            page.get_by_role("button", name="Unfollow").click()
            expect(page.get_by_role("button", name="Follow")).to_be_visible()
            expect(page.get_by_role("button", name="Send")).to_have_count(0)
        finally:
            browser.close()
