"""The API documents in one page: /docs in development (the platform's document and each mini program's,
with Swagger UI's switcher, from the project's own files), 404 in production; `wxbot docs export DIR` writes
the same page as static files whose references all resolve inside DIR and whose documents are the
endpoints' answers with absolute server URLs. Both rendered in Chromium."""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.browser_helpers import browser, live_url, page  # noqa: F401
from wxbot import create_app
from wxbot.cli import main

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


def export(settings: Any, folder: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["docs", "export", str(folder), *args], obj=settings)


def without_servers(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key != "servers"}


def test_the_export_writes_a_folder_with_everything_its_page_references(settings, client, tmp_path):
    folder = tmp_path / "site"
    done = export(settings, folder, "--public-url", "https://wx.example.com/wxbot/")
    assert done.exit_code == 0, done.output
    page_html = (folder / "index.html").read_text(encoding="utf-8")
    assert listed(page_html) == [(name, url.lstrip("/")) for name, url in [PLATFORM, *MINI_PROGRAMS]]
    for url in references(page_html):
        assert "://" not in url and not url.startswith("/"), url  # relative: works from wherever it is served
        assert (folder / url).resolve().is_relative_to(folder.resolve()) and (folder / url).is_file(), url
        if not url.endswith(".json"):
            assert (folder / url).read_bytes() == client.get("/" + url).data, url  # the files the app serves
    servers = {}
    for _, url in [PLATFORM, *MINI_PROGRAMS]:
        exported = json.loads((folder / url.lstrip("/")).read_text(encoding="utf-8"))
        assert without_servers(exported) == without_servers(client.get(url).get_json()), url
        servers[url] = [server["url"] for server in exported["servers"]]
    assert servers == {
        "/platform/openapi.json": ["https://wx.example.com/wxbot/platform"],
        "/mp/mp/openapi.json": ["https://wx.example.com/wxbot/mp/mp"],
        "/mp/campus/openapi.json": ["https://wx.example.com/wxbot/mp/campus"],
    }
    assert not re.search(r"https?://", page_html.replace("https://wx.example.com", ""))  # the CSP names it
    assert "connect-src &#39;self&#39; https://wx.example.com;" in page_html


def test_the_export_takes_the_configured_public_url_and_refuses_none(settings, tmp_path):
    refused = export(settings, tmp_path / "none")  # the tests' settings have no [console] public_url
    assert refused.exit_code != 0 and "--public-url" in refused.output and not (tmp_path / "none").exists()
    settings.console.public_url = "https://wx.example.com"
    done = export(settings, tmp_path / "site")
    assert done.exit_code == 0, done.output
    platform = json.loads((tmp_path / "site" / "platform" / "openapi.json").read_text(encoding="utf-8"))
    assert platform["servers"] == [{"url": "https://wx.example.com/platform"}]


@pytest.fixture
def static_site(settings, tmp_path) -> Iterator[str]:
    """The exported folder served by a plain static file server at /docs/, as nginx would."""
    assert export(settings, tmp_path / "docs", "--public-url", "https://wx.example.com").exit_code == 0

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/docs/"
    server.shutdown()
    server.server_close()
    thread.join(5)


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


@pytest.mark.browser
def test_the_exported_folder_renders_from_a_static_server_in_chromium(page, static_site):  # noqa: F811
    origin = static_site.removesuffix("/docs/")
    outside, errors = watch(page, origin)
    page.goto(static_site)
    page.locator(".opblock-summary-path", has_text="/applications/status").wait_for()
    assert "https://wx.example.com/platform" in page.content()  # the API's server, not the files'
    page.select_option("#select", label=MINI_PROGRAMS[0][0])
    page.locator(".opblock-summary-path", has_text="/scene/{key}").wait_for()
    assert outside == [] and errors == []
