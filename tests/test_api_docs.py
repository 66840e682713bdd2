"""The API documents in one page: /docs in development (the platform's document and each mini program's,
with Swagger UI's switcher, from the project's own files), 404 in production; rendered in Chromium."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from tests.browser_helpers import browser, live_url, page  # noqa: F401
from wxbot import create_app

PLATFORM = ("平台接口 (platform API)", "/platform/openapi.json")
MINI_PROGRAMS = [("小程序 mp (mini-program API)", "/mp/mp/openapi.json"),
                 ("小程序 campus (mini-program API)", "/mp/campus/openapi.json")]  # fmt: skip


@pytest.fixture(autouse=True)
def two_mini_programs(config_dict):
    config_dict["wechat"]["miniprogram"].append(
        {"name": "campus", "appid": "wxmp000000000002", "appsecret": "s"}
    )


def references(page_html: str) -> list[str]:
    """Every URL the page loads: scripts, styles, icons and the documents on the element."""
    found = re.findall(r'(?:src|href)="([^"]+)"', page_html)
    listed = re.search(r'data-urls="([^"]+)"', page_html)
    assert listed, page_html
    return found + [entry["url"] for entry in json.loads(html.unescape(listed.group(1)))]


def listed(page_html: str) -> list[tuple[str, str]]:
    entries = json.loads(html.unescape(re.search(r'data-urls="([^"]+)"', page_html).group(1)))
    return [(entry["name"], entry["url"]) for entry in entries]


def test_docs_in_development_lists_the_platform_document_and_each_mini_programs(client):
    answer = client.get("/docs")
    assert answer.status_code == 200
    page_html = answer.get_data(as_text=True)
    assert listed(page_html) == [PLATFORM, *MINI_PROGRAMS]
    assert "接口文档" in page_html and "swagger-ui-standalone-preset.js" in page_html  # the switcher
    for _, url in listed(page_html):
        assert client.get(url).get_json()["openapi"] == "3.1.0", url


def test_docs_is_not_served_in_production(settings):
    settings.app.environment = "production"  # as validated production settings
    app = create_app(settings, start_scheduler=False)
    try:
        client = app.test_client()
        assert client.get("/docs").status_code == 404
        assert not [rule for rule in app.url_map.iter_rules() if rule.rule == "/docs"]
        # one mini program's page, and the files it needs, are production's too
        assert client.get("/mp/campus/docs").status_code == 200
        assert client.get("/api-docs/docs.js").status_code == 200
    finally:
        app.extensions["wxbot"].engine.dispose()


@pytest.mark.parametrize("path", ["/docs", "/mp/campus/docs"])
def test_the_pages_load_only_local_files_under_their_csp(client, path):
    answer = client.get(path)
    page_html = answer.get_data(as_text=True)
    assert not re.search(r"https?://", page_html)  # no CDN, no outside document
    for url in references(page_html):
        assert url.startswith(("/api-docs/", "/platform/", "/mp/")), url
        assert client.get(url).status_code == 200, url
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "'unsafe-inline'" not in csp
    assert "<script>" not in page_html  # every script is a file


def watch(tab: Any, origin: str) -> tuple[list[str], list[str]]:
    """Requests that leave `origin`, and the console's errors (a CSP violation is one)."""
    outside: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: outside.append(r.url) if not r.url.startswith(origin) else None)
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return outside, errors


@pytest.mark.browser
def test_docs_renders_the_platforms_operations_and_switches_in_chromium(page, live_url):  # noqa: F811
    outside, errors = watch(page, live_url)
    page.goto(f"{live_url}/docs")
    page.locator(".opblock-summary-path", has_text="/applications/status").wait_for()
    assert page.locator(".opblock-summary-path", has_text="/events/{event_id}/codes").count() >= 1
    page.select_option("#select", label=MINI_PROGRAMS[1][0])
    page.locator(".opblock-summary-path", has_text="/scene/{key}").wait_for()
    assert f"{live_url}/mp/campus" in page.content()  # that mini program's server
    assert outside == [] and errors == []
    # on a host other than the loopback Swagger UI would show a badge drawn by validator.swagger.io
    assert page.evaluate("window.ui.getConfigs().validatorUrl") is None
