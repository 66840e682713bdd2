"""/replies/<token>, where a follower reads the replies that could not reach them in the chat: strict headers,
links that expire (moved clock) and die with the conversation, logs that name a link by its token id only."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.console_helpers import make_agent, make_conversation
from wxbot.console.reader import reader_link
from wxbot.logs import link_token_id
from wxbot.models import Conversation, TicketMessage
from wxbot.privacy.cancellation import erase_identity

READER_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@pytest.fixture
def conversation(db):
    conv = make_conversation(db, text="有人吗")
    agent = make_agent(db)
    db.add(TicketMessage(conversation_id=conv.id, direction="outbound", kind="text", body="在的，请讲",
                         agent_id=agent.id))  # fmt: skip
    db.commit()
    return conv


def path_of(app, conversation) -> str:
    with app.test_request_context():
        return reader_link(conversation, "http://localhost/").removeprefix("http://localhost")


def assert_reader_headers(response) -> None:
    assert response.headers["Content-Security-Policy"] == READER_CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_shows_the_replies_under_strict_headers(app, client, conversation):
    response = client.get(path_of(app, conversation))
    assert response.status_code == 200 and "在的，请讲" in response.get_data(as_text=True)
    assert_reader_headers(response)
    forged = client.get("/replies/forged-token")
    assert forged.status_code == 404 and "此链接已失效" in forged.get_data(as_text=True)
    assert_reader_headers(forged)


def test_a_link_expires_after_7_days_with_a_410_in_chinese(app, client, conversation, clock):
    path = path_of(app, conversation)
    clock.advance(days=6, hours=23)
    assert client.get(path).status_code == 200
    clock.advance(hours=1, seconds=1)
    gone = client.get(path)
    assert gone.status_code == 410 and "此链接已过期" in gone.get_data(as_text=True)
    assert "在的，请讲" not in gone.get_data(as_text=True)
    assert_reader_headers(gone)


def test_the_lifetime_is_configurable(config_dict, request):
    config_dict["console"] = {"reply_link_days": 2}
    app, client, clock = (request.getfixturevalue(n) for n in ("app", "client", "clock"))
    path = path_of(app, request.getfixturevalue("conversation"))
    clock.advance(days=2, seconds=1)
    assert client.get(path).status_code == 410


def test_a_link_dies_with_its_conversations_erasure(app, client, db, conversation):
    path = path_of(app, conversation)
    assert erase_identity(db, conversation.identity_id, actor="test")
    db.commit()
    gone = client.get(path)
    assert gone.status_code == 410 and "此链接已失效" in gone.get_data(as_text=True)


def test_a_link_never_opens_a_later_conversation_that_reuses_the_id(app, client, db, conversation, clock):
    path = path_of(app, conversation)
    conversation_id, identity_id = conversation.id, conversation.identity_id
    db.delete(conversation)
    db.commit()
    clock.advance(minutes=5)
    db.add(Conversation(id=conversation_id, identity_id=identity_id))  # as SQLite hands out a freed last id
    db.commit()
    assert client.get(path).status_code == 410


def test_logs_name_a_link_by_its_token_id_never_the_token(app, client, conversation, caplog):
    path = path_of(app, conversation)
    token = path.removeprefix("/replies/")
    caplog.set_level(logging.INFO)
    client.get(path)
    assert link_token_id(token) in caplog.text and token not in caplog.text

    # the access log (gunicorn's, as `wxbot serve` runs it) goes through the same masking
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    config = Config()
    config.set("accesslog", "-")
    access = Logger(config)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.7"}  # fmt: skip
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    access.access_log.addHandler(handler)
    try:
        access.access(SimpleNamespace(status="200 OK", sent=10, headers=[]), SimpleNamespace(headers=[]),
                      environ, timedelta(milliseconds=3))  # fmt: skip
    finally:
        access.access_log.removeHandler(handler)
    (line,) = lines
    assert f"GET /replies/{link_token_id(token)} HTTP/1.1" in line and token not in line
