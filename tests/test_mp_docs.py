"""The mini-program API described per mini program: /mp/<name>/openapi.json (its server URL and name) and a page
to read it (Swagger UI from the project's own files, no CDN), rendered in Chromium."""

from __future__ import annotations

import re

import pytest

from tests.browser_helpers import browser, live_url, page  # noqa: F401


def test_each_mini_program_has_its_own_document(client, config_dict):
    doc = client.get("/mp/mp/openapi.json").get_json()
    assert doc["servers"] == [{"url": "http://localhost/mp/mp", "description": "the mini program mp"}]
    assert (
        doc["info"]["title"].endswith(": mp") and "/login" in doc["paths"] and "/scene/{key}" in doc["paths"]
    )
    assert client.get("/mp/openapi.json").get_json()["servers"][0]["url"] == "http://localhost/mp/mp"
    assert client.get("/mp/nosuch/openapi.json").status_code == 404
    assert client.get("/mp/nosuch/docs").status_code == 404


def test_the_docs_page_uses_only_local_assets(client):
    html = client.get("/mp/mp/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api-docs/") for s in sources), sources
    for source in sources:
        answer = client.get(source)
        assert answer.status_code == 200 and len(answer.data) > 100, source
    assert client.get("/api-docs/../../wxbot.db").status_code == 404
    assert client.get("/api-docs/swagger-editor.js").status_code == 404  # only the files it needs


@pytest.mark.browser
def test_the_docs_page_renders_the_operations_in_chromium(page, live_url):  # noqa: F811
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_url) else None)
    page.goto(f"{live_url}/mp/mp/docs")
    page.locator(".opblock-summary-path", has_text="/scene/{key}").wait_for()
    assert page.locator(".opblock-summary-path", has_text="/phone").count() == 1
    assert f"{live_url}/mp/mp" in page.content()  # the server this mini program's API is at
    assert outside == []
