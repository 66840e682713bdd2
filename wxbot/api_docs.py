"""The API documents to read in a browser: Swagger UI from the swagger-ui-py package's own files (no CDN),
served under /api-docs/ with our starter (static/api-docs/docs.js), and the one page that shows it
(templates/api-docs/page.html). /mp/<name>/docs shows one mini program's document with it; /docs, in the
development environment only, every document with a switcher: the platform's and each mini program's.
`wxbot docs export DIR` writes that page as static files for production (export()).

The page runs no inline script (the documents' URLs are on the element), so its Content-Security-Policy
allows scripts and styles from 'self' only (and the style of Swagger UI's logo, by its hash); Swagger UI's
icons are data: images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import swagger_ui
from flask import Blueprint, Flask, Response, make_response, render_template, send_from_directory, url_for

from wxbot.config import Settings
from wxbot.web import abort_api, services

bp = Blueprint("api_docs", __name__)
index_bp = Blueprint("api_docs_index", __name__)  # registered in the development environment only

TITLE = "接口文档 (wxbot API documents)"

# Swagger UI's own files and our starter: nothing else is served from /api-docs/.
_SWAGGER_UI = Path(swagger_ui.__file__).resolve().parent / "static"
_OURS = Path(__file__).resolve().parent / "static" / "api-docs"
ASSETS = {
    "swagger-ui.css": _SWAGGER_UI,
    "swagger-ui-bundle.js": _SWAGGER_UI,
    "swagger-ui-standalone-preset.js": _SWAGGER_UI,  # the switcher between documents (StandaloneLayout)
    "favicon-32x32.png": _SWAGGER_UI,
    "docs.js": _OURS,
}
# The one inline style Swagger UI draws: the <style> of its logo in the switcher's top bar.
_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"


def policy(connect: str = "'self'") -> str:
    """The page's Content-Security-Policy (frame-ancestors is added where it is sent as a header)."""
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self' {_LOGO_STYLE}; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; object-src 'none'"
    )


@dataclass(frozen=True)
class Document:
    """One OpenAPI document the page offers: its name in the switcher and the URL it is read from."""

    name: str
    url: str


def platform_document() -> Document:
    return Document("平台接口 (platform API)", url_for("platform_docs.openapi_json"))


def mp_document(name: str) -> Document:
    return Document(f"小程序 {name} (mini-program API)", url_for("miniprogram_docs.openapi_for", name=name))


def documents(settings: Settings) -> list[Document]:
    """Every document: the platform's, then each configured mini program's."""
    return [platform_document(), *(mp_document(mp.name) for mp in settings.wechat.miniprogram)]


def asset_urls() -> dict[str, str]:
    return {name: url_for("api_docs.asset", filename=name) for name in ASSETS}


def page(title: str, documents: list[Document], assets: dict[str, str] | None = None, csp: str = "") -> str:
    """The page's HTML: Swagger UI over `documents` (a switcher when there are several)."""
    return render_template(
        "api-docs/page.html",
        title=title,
        assets=assets or asset_urls(),
        switcher=len(documents) > 1,
        urls=json.dumps([{"url": d.url, "name": d.name} for d in documents], ensure_ascii=False),
        csp=csp,
    )


def page_response(title: str, documents: list[Document]) -> Response:
    response = make_response(page(title, documents))
    response.headers["Content-Security-Policy"] = policy() + "; frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/api-docs/<filename>")
def asset(filename: str) -> Response:
    folder = ASSETS.get(filename)
    if folder is None:
        abort_api(404, "not_found", "no such file")
    return send_from_directory(folder, filename, max_age=86400)


@index_bp.get("/docs")
def index() -> Response:
    return page_response(TITLE, documents(services().settings))


def export(app: Flask, folder: Path, server_url: str) -> list[Path]:
    """The /docs page as static files in `folder`, for a web server to serve as they are: index.html, and
    the assets and documents at the paths the app serves them at, relative to index.html. Each file is the
    app's answer at its path, asked for at `server_url`; in the documents, a server URL that is a path (the
    platform's) is made absolute on `server_url`. Returns the files written."""
    server_url = server_url.rstrip("/")
    split = urlsplit(server_url)
    client = app.test_client()
    written: list[Path] = []

    def write(path: str, data: bytes) -> None:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)

    with app.test_request_context("/"):  # for url_for: the path of each file, made relative
        assets = {name: url.lstrip("/") for name, url in asset_urls().items()}
        found = [replace(d, url=d.url.lstrip("/")) for d in documents(app.extensions["wxbot"].settings)]
        for path in assets.values():
            write(path, _answer(client, path, server_url))
        for document in found:
            doc = json.loads(_answer(client, document.url, server_url))
            for server in doc.get("servers", []):
                if server.get("url", "").startswith("/"):
                    server["url"] = server_url + server["url"]
            write(document.url, json.dumps(doc, ensure_ascii=False, indent=2).encode())
        csp = policy(connect=f"'self' {split.scheme}://{split.netloc}")  # "Try it out" calls the API there
        write("index.html", page(TITLE, found, assets, csp).encode())
    return written


def _answer(client: Any, path: str, server_url: str) -> bytes:
    response = client.get("/" + path, base_url=server_url)
    try:
        if response.status_code != 200:
            raise RuntimeError(f"GET /{path} answered {response.status}")
        return response.get_data()
    finally:
        response.close()
