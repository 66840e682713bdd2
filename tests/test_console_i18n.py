"""The console in Chinese by default and in English for an agent who chose it; every text in the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations

from tests.browser_helpers import log_in, screenshot
from tests.console_helpers import make_agent, make_conversation

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "wxbot" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"secure_cookie": False}  # plain http on the loopback
    return config_dict


def _extracted() -> set[str]:
    method_map = [("wxbot/**.py", "python"), ("wxbot/templates/console/**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=keywords
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_console_text_has_its_chinese_and_the_compiled_catalog_is_current():
    with open(CATALOG / "messages.po", "rb") as po:
        catalog = read_po(po)
    chinese = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
    missing = sorted(_extracted() - set(chinese))
    assert not missing, f"texts not in messages.po (make catalog): {missing}"
    untranslated = sorted(
        k for k, m in chinese.items() if not (m.string if isinstance(m.string, str) else m.string[0])
    )
    assert not untranslated, f"no Chinese for: {untranslated}"
    assert not [k for k, m in chinese.items() if m.fuzzy], "fuzzy entries in messages.po"
    compiled = Translations.load(str(CATALOG.parent.parent), ["zh_Hans_CN"])
    stale = [k for k, m in chinese.items() if isinstance(m.id, str) and compiled.gettext(k) != m.string]
    assert not stale, f"messages.mo is older than messages.po (make catalog): {stale[:5]}"


def test_the_inbox_is_in_chinese_by_default_and_in_english_once_the_agent_chooses_it(
    page, live_url, db, tmp_path
):
    make_agent(db)
    make_agent(db, "bob")
    conversation = make_conversation(db, "o-i18n-1", text="请问周末可以面试吗？")
    log_in(page, live_url)
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "收件箱"
    assert "最新消息" in page.locator("table.inbox thead").inner_text()
    assert "时间均为 Asia/Shanghai 时区" in page.locator("footer").inner_text()
    screenshot(page, tmp_path, "inbox-zh")

    page.click("form.language button[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("h1").inner_text() == "Inbox"
    assert "Last message" in page.locator("table.inbox thead").inner_text()
    assert "Times in Asia/Shanghai" in page.locator("footer").inner_text()
    screenshot(page, tmp_path, "inbox-en")
    page.goto(f"{live_url}/console/c/{conversation.id}")
    assert "Reply to the follower" in page.content() and "请问周末可以面试吗？" in page.content()
    screenshot(page, tmp_path, "conversation-en")
    page.goto(f"{live_url}/console/")
    page.click("text=Log out")
    page.wait_for_url("**/console/login")

    log_in(page, live_url)  # kept with the agent: English again after a new login
    assert page.locator("h1").inner_text() == "Inbox"
    page.click("text=Log out")
    page.wait_for_url("**/console/login")
    log_in(page, live_url, "bob")  # another agent keeps the default
    assert page.locator("h1").inner_text() == "收件箱"


def test_an_agents_english_follows_them_to_every_page_and_chinese_comes_back(client, db):
    from tests.console_helpers import form_csrf, login

    make_agent(db)
    conv = make_conversation(db, "o-i18n-2")
    login(client)
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    assert "回复用户" in page and "Reply to the follower" not in page
    client.post(
        "/console/language", data={"locale": "en", "csrf_token": form_csrf(page), "next": "/console/stats"}
    )
    stats = client.get("/console/stats").get_data(as_text=True)
    assert "Median first response" in stats and "首次响应" not in stats
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    assert "Reply to the follower" in page and '<html lang="en">' in page
    back = client.post("/console/language", data={"locale": "zh_CN", "csrf_token": form_csrf(page)})
    assert back.status_code == 303
    assert "回复用户" in client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    unknown = client.post("/console/language", data={"locale": "xx", "csrf_token": form_csrf(page)})
    assert unknown.status_code == 400
