"""Conversation media live in the database: a jobs process on one host fetches a follower's file, the console
on another host (its own `[app] var_dir`) serves it, and it goes with the follower's data."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from jobs.media import fetch_media
from jobs.retention import run_retention
from tests.conftest import OA
from tests.console_helpers import form_csrf, login, make_agent
from tests.wechat_helpers import Follower
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.conversations import conversations
from wxbot.conversations import media as media_module
from wxbot.db import Base
from wxbot.errors import Conflict
from wxbot.models import Conversation, TicketMedia, TicketMessage
from wxbot.privacy import cancellation

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value, a NUL and quotes among them
REPLY = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # enough of a PNG for the console's type check


def host(config_dict: dict[str, Any], var_dir: Any) -> Any:
    """One machine's process: the test's settings (the same database) with a var_dir of its own."""
    raw = copy.deepcopy(config_dict)
    raw["app"]["var_dir"] = str(var_dir)
    app = create_app(settings_from_dict(raw, env={}))
    app.config["TESTING"] = True
    services = app.extensions["wxbot"]
    if services.engine.dialect.name == "sqlite":
        Base.metadata.create_all(services.engine)
    return app


@pytest.fixture
def hosts(config_dict: dict[str, Any], tmp_path: Any, sandbox: Any) -> Iterator[dict[str, Any]]:
    made = {name: host(config_dict, tmp_path / name / "var") for name in ("jobs", "web-a", "web-b")}
    yield made
    for app in made.values():
        app.extensions["wxbot"].engine.dispose()


def follower_with_media(client: Any, sandbox: Any, media_id: str) -> Follower:
    """A follower who said 「留言」 and sent an image WeChat holds as `media_id`."""
    follower = Follower(client)
    sandbox.set_follower(OA["appid"], follower.openid)
    follower.follow()
    follower.send_text("留言")
    sandbox.touch(OA["appid"], follower.openid, "message")
    follower.message("image", PicUrl="http://img.example/1.jpg", MediaId=media_id)
    sandbox.add_media(OA["appid"], media_id, IMAGE, "image/png")
    return follower


def image_messages(session: Any) -> list[TicketMessage]:
    rows = list(
        session.scalars(select(TicketMessage).where(TicketMessage.kind == "image").order_by(TicketMessage.id))
    )
    session.commit()  # the read ends (on SQLite an open read holds the write lock)
    return rows


def kept_files(session: Any) -> int:
    count = session.scalar(select(func.count()).select_from(TicketMedia))
    session.commit()
    return int(count or 0)


def image_reply(client: Any, conversation_id: int, content: bytes) -> Any:
    page = client.get(f"/console/c/{conversation_id}").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return client.post(f"/console/c/{conversation_id}/reply-image", content_type="multipart/form-data",
                       data={"csrf_token": form_csrf(page), "form_token": f"image-{token}",
                             "image": (io.BytesIO(content), "reply.png")})  # fmt: skip


def test_what_a_jobs_host_fetched_the_console_on_another_host_serves_with_the_same_headers(
    hosts, sandbox, tmp_path
):
    jobs, web_a, web_b = hosts["jobs"], hosts["web-a"], hosts["web-b"]
    follower_with_media(web_a.test_client(), sandbox, "media-elsewhere")
    assert fetch_media(jobs.extensions["wxbot"]) == 1
    assert list(tmp_path.rglob("media")) == []  # no host kept a file of its own

    with web_b.extensions["wxbot"].session_factory() as session:
        make_agent(session)
        (message,) = image_messages(session)
    agent_b = web_b.test_client()
    login(agent_b)
    response = agent_b.get(f"/console/media/{message.id}")
    assert response.status_code == 200 and response.data == IMAGE
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == f"inline; filename={message.id}.png"
    assert response.headers["Content-Length"] == str(len(IMAGE))
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Accept-Ranges"] == "bytes" and response.headers["Last-Modified"]
    part = agent_b.get(f"/console/media/{message.id}", headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.data == IMAGE[:8]
    assert part.headers["Content-Range"] == f"bytes 0-7/{len(IMAGE)}"
    again = agent_b.get(f"/console/media/{message.id}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304

    # an agent's image reply through host B is served on host A
    assert image_reply(agent_b, message.conversation_id, REPLY).status_code == 302
    with web_a.extensions["wxbot"].session_factory() as session:
        make_agent(session, "bob")
        reply = image_messages(session)[-1]
    assert (reply.direction, reply.media_status) == ("outbound", "stored")
    agent_a = web_a.test_client()
    login(agent_a, "bob")
    served = agent_a.get(f"/console/media/{reply.id}")
    assert served.status_code == 200 and served.data == REPLY and served.mimetype == "image/png"
    assert list(tmp_path.rglob("media")) == []


@pytest.mark.parametrize("how", ["unfollow", "erasure", "retention"])
def test_a_followers_media_goes_from_the_database_with_their_conversation(
    client, db, services, sandbox, clock, how
):
    follower = follower_with_media(client, sandbox, "media-to-forget")
    assert fetch_media(services) == 1
    assert kept_files(db) == 1
    (message,) = image_messages(db)
    if how == "unfollow":  # WeChat asks for the data of who leaves to be deleted
        follower.unfollow()
    elif how == "erasure":  # the follower's right to erasure, without an account
        conversation = db.get(Conversation, message.conversation_id)
        cancellation.erase_identity(db, conversation.identity_id, actor="test")
        db.commit()
    else:  # retention: resolved conversations expire
        conversation = db.get(Conversation, message.conversation_id)
        conversations.resolve(db, conversation, make_agent(db))
        db.commit()
        clock.advance(days=services.settings.retention.resolved_conversations_days, seconds=1)
        run_retention(services)
    assert image_messages(db) == []
    assert kept_files(db) == 0


def test_a_file_larger_than_the_database_keeps_fails_in_words_and_the_next_is_stored(
    client, db, services, sandbox, monkeypatch
):
    monkeypatch.setattr(media_module, "MAX_MEDIA_BYTES", len(IMAGE) - 1)
    follower = follower_with_media(client, sandbox, "media-big")
    follower.message("image", PicUrl="http://img.example/2.jpg", MediaId="media-small")
    sandbox.add_media(OA["appid"], "media-small", IMAGE[:100], "image/png")
    assert fetch_media(services) == 1
    big, small = image_messages(db)
    assert (big.media_status, big.media_error) == ("failed", media_module.TOO_LARGE)
    assert small.media_status == "stored" and kept_files(db) == 1
    make_agent(db)
    login(client)
    assert "文件超过数据库可保存的大小" in client.get(f"/console/c/{big.conversation_id}").get_data(
        as_text=True
    )


def test_the_largest_file_the_database_takes_is_stored_and_one_byte_more_is_refused(
    client, db, services, sandbox
):
    """On MariaDB the limit is max_allowed_packet's (the local server's 16M default: about 8 MiB), found by
    asking the server; a file at the limit goes through, the next byte is refused before the server is
    asked, and the job goes on."""
    largest = media_module.largest_kept(db)
    db.commit()
    follower = follower_with_media(client, sandbox, "media-at-limit")
    sandbox.add_media(OA["appid"], "media-at-limit", b"\x00" * largest, "image/png")  # NULs: the worst case
    follower.message("image", PicUrl="http://img.example/3.jpg", MediaId="media-over")
    sandbox.add_media(OA["appid"], "media-over", b"\x00" * (largest + 1), "image/png")
    assert fetch_media(services) == 1
    at_limit, over = image_messages(db)
    assert at_limit.media_status == "stored"
    assert (over.media_status, over.media_error) == ("failed", media_module.TOO_LARGE)
    size = db.scalar(select(TicketMedia.size).where(TicketMedia.message_id == at_limit.id))
    db.commit()
    assert size == largest


def test_an_image_reply_whose_file_went_missing_cannot_be_fetched_from_wechat(client, db, services, sandbox):
    follower_with_media(client, sandbox, "media-reply")
    (message,) = image_messages(db)
    conversation = db.get(Conversation, message.conversation_id)
    agent = make_agent(db)
    reply = TicketMessage(conversation_id=conversation.id, direction="outbound", kind="image", body="[图片]",
                          agent_id=agent.id, media_status="failed", media_error=media_module.MISSING)  # fmt: skip
    db.add(reply)
    db.commit()
    conversation_id, reply_id = conversation.id, reply.id
    with pytest.raises(Conflict) as refused:
        media_module.fetch_again(db, conversation, agent, reply_id)
    assert refused.value.code == "media_not_fetchable"
    db.rollback()  # and nothing read afterwards: on SQLite an open read holds the write lock
    login(client)
    page = client.get(f"/console/c/{conversation_id}").get_data(as_text=True)
    assert page.count("media-failed") == 1 and "迁入数据库时没有找到" in page
    assert f"/m/{reply_id}/fetch" not in page
