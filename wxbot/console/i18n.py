"""The console's language: 简体中文 unless the agent chose English (agents.locale), through Flask-Babel.

Texts are written in English in the code and templates (the msgids); wxbot/translations/zh_Hans_CN (Babel's name for zh_CN) holds their
Chinese (messages.po, and messages.mo compiled from it and committed, so a fresh clone runs as it is;
`make catalog` extracts, updates and compiles, tests/test_console_i18n.py checks that none is missing).
Domain texts shown here are marked with wxbot.texts.N_ and translated where the console shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, g, redirect, request
from flask.blueprints import BlueprintSetupState
from flask_babel import Babel, get_locale, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from wxbot.console import bp, safe_next
from wxbot.web import db, services

DEFAULT = "zh_CN"
LOCALES = {"zh_CN": "简体中文", "en": "English"}  # each named in its own language
TRANSLATIONS = str(Path(__file__).resolve().parent.parent / "translations")

babel = Babel()


def agent_locale() -> str:
    agent = g.get("agent")
    chosen = getattr(agent, "locale", None)
    return chosen if chosen in LOCALES else DEFAULT


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    zone = state.app.extensions["wxbot"].settings.app.timezone
    babel.init_app(state.app, default_locale=DEFAULT, default_translation_directories=TRANSLATIONS,
                   default_timezone=zone, locale_selector=agent_locale)  # fmt: skip


@bp.post("/language")
def choose_language() -> Response:
    """The agent's language, kept with the agent (every device, every session)."""
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        abort(400, gettext("Unknown language."))
    g.agent.locale = None if locale == DEFAULT else locale
    db().commit()
    return redirect(safe_next(request.form.get("next")), 303)


@bp.app_context_processor
def language_globals() -> dict[str, Any]:
    return {
        "locales": LOCALES,
        "html_lang": "en" if str(get_locale()) == "en" else "zh-CN",
        "timezone": services().settings.app.timezone,
    }


@bp.app_template_filter("tr")
def translate(text: str | None) -> str:
    """A text decided elsewhere (a domain text marked with N_, an error's description) in the agent's
    language; a text the catalog does not hold is shown as it is."""
    return gettext(text) if text else ""


KINDS = {"text": _l("text"), "image": _l("image"), "voice": _l("voice"), "video": _l("video"),
         "shortvideo": _l("short video"), "location": _l("location"), "link": _l("link"),
         "miniprogrampage": _l("mini-program card"), "tempsession": _l("entered the chat")}  # fmt: skip


@bp.app_template_filter("kind_label")
def kind_label(kind: str) -> str:
    return str(KINDS.get(kind, kind))


# the error page's heading, for the statuses the console answers with
ERROR_NAMES = {400: _l("Bad Request"), 401: _l("Unauthorized"), 403: _l("Forbidden"), 404: _l("Not Found"),
               405: _l("Method Not Allowed"), 409: _l("Conflict"), 410: _l("Gone"),
               413: _l("Request Entity Too Large"), 429: _l("Too Many Requests"),
               500: _l("Internal Server Error"), 503: _l("Service Unavailable")}  # fmt: skip


@bp.app_template_filter("error_name")
def error_name(error: Any) -> str:
    return str(ERROR_NAMES.get(getattr(error, "code", 0), getattr(error, "name", "")))
