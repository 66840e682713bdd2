"""Follower media in the console: kept only as an allowlisted type and served so that no browser runs it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.media import fetch_media
from tests.conftest import OA
from tests.console_helpers import login, make_agent, make_conversation
from wxbot.conversations import conversations
from wxbot.conversations.media import OPAQUE_TYPE, SAFE_TYPES, kept_type
from wxbot.models import TicketMessage

SCRIPT_PAGE = b"<html><body><script>document.title='pwned'</script></body></html>"


def media_message(db, conversation, media_id: str, kind: str = "voice", msg_id: str = "6001") -> int:
    added = conversations.add_inbound(
        db, conversation, appid=OA["appid"], msg_id=msg_id, kind=kind, fields={"MediaId": media_id}
    )
    assert added is not None
    message_id = added.message.id
    db.commit()  # and no transaction left open: the fetch job writes from its own session
    return message_id


@pytest.mark.parametrize(
    ("upstream_type", "kept", "disposition"),
    [
        ("text/html; charset=utf-8", OPAQUE_TYPE, "attachment"),
        ("application/javascript", OPAQUE_TYPE, "attachment"),
        ("image/svg+xml", OPAQUE_TYPE, "attachment"),
        ("IMAGE/PNG", "image/png", "inline"),
        ("audio/amr", "audio/amr", "inline"),
    ],
)
def test_media_is_kept_as_an_allowlisted_type_and_served_so_it_cannot_run(
    client, db, services, sandbox, upstream_type, kept, disposition
):
    conv = make_conversation(db)
    message_id = media_message(db, conv, "m-1")
    sandbox.add_media(OA["appid"], "m-1", SCRIPT_PAGE, upstream_type)
    assert fetch_media(services) == 1
    db.expire_all()
    assert db.get(TicketMessage, message_id).media_type == kept
    db.rollback()

    make_agent(db)
    login(client)
    response = client.get(f"/console/media/{message_id}")
    assert response.status_code == 200 and response.data == SCRIPT_PAGE
    assert response.mimetype == kept
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].split(";")[0] == disposition


def test_a_file_stored_before_the_allowlist_is_served_as_opaque_bytes(client, db, services, sandbox):
    conv = make_conversation(db)
    message_id = media_message(db, conv, "m-old")
    sandbox.add_media(OA["appid"], "m-old", SCRIPT_PAGE, "image/png")
    fetch_media(services)
    db.get(TicketMessage, message_id).media_type = "text/html"  # as the fetch job kept it before
    db.commit()
    make_agent(db)
    login(client)
    response = client.get(f"/console/media/{message_id}")
    assert response.mimetype == OPAQUE_TYPE
    assert response.headers["Content-Disposition"].startswith("attachment")


@given(st.text(max_size=80))
def test_kept_types_are_the_allowlist_or_opaque(content_type):
    assert kept_type(content_type) in SAFE_TYPES | {OPAQUE_TYPE}
