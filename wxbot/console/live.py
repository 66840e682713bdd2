"""Live pages: the inbox and the thread update themselves by short polling with ETags.

Why polling and not Server-Sent Events: the console runs under gunicorn's threaded sync workers behind a
buffering nginx, on any number of processes; an event stream would hold a worker thread per open tab and
need nginx told not to buffer, and every process would need a shared feed of changes (Redis pub/sub).
A poll is an ordinary short request: any process answers it from the database, nginx needs nothing special,
and an unchanged part costs a 304. static/console/console.js asks every few seconds while the tab is
visible, and replaces the page's parts (elements with data-live-part) by id with what the server renders.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from wxbot.console import bp
from wxbot.console.views import SCOPES, STATES, conversation_or_404, inbox_context, thread_context

THREAD_PARTS = {
    "conv-head": "console/_conv_head.html",
    "messages": "console/_thread_messages.html",
    "window": "console/_window_card.html",
}
INBOX_PARTS = {"inbox-list": "console/_inbox_list.html"}


def _parts(templates: dict[str, str], context: dict[str, Any]) -> Response:
    body = json.dumps(
        {"parts": {element: render_template(name, **context) for element, name in templates.items()}},
        ensure_ascii=False,
    ).encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    return response


@bp.get("/live")
def live_inbox() -> Response:
    state, scope = request.args.get("state", "open"), request.args.get("scope", "all")
    if state not in STATES or scope not in SCOPES:
        abort(400, _("Unknown inbox filter."))
    return _parts(INBOX_PARTS, inbox_context(state, scope))


@bp.get("/c/<int:conversation_id>/live")
def live_conversation(conversation_id: int) -> Response:
    return _parts(THREAD_PARTS, thread_context(conversation_or_404(conversation_id)))
