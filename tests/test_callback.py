"""The official-account callback through its public surface: signed requests in, replies out."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.wechat_helpers import Follower
from wxbot.handlers import render_reply
from wxbot.models import Identity, InboundMessage


def stored(db) -> list[InboundMessage]:
    db.expire_all()
    return list(db.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))


@pytest.fixture
def plain_app(config_dict):
    """A second official account without an EncodingAESKey: plaintext mode."""
    config_dict["wechat"]["official"].append(
        {
            "name": "plain",
            "appid": "wxplain000000001",
            "appsecret": "s",
            "token": "plaintoken",
            "original_id": "gh_plain0000001",
        }  # fmt: skip
    )


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_help_keyword_in_encrypted_modes(client, db, mode):
    follower = Follower(client, mode=mode)
    reply = follower.send_text("帮助")
    assert reply.status == 200 and reply.msg_type == "text"
    assert reply.content == render_reply("help")
    (row,) = stored(db)
    assert row.msg_type == "text" and row.fields["Content"] == "帮助" and row.reply["type"] == "text"


def test_help_keyword_in_plaintext_mode(plain_app, client, db):
    follower = Follower(client, "plain")
    assert follower.mode == "plaintext"
    for word in ("help", " HELP ", "?", "？"):
        assert follower.send_text(word).content == render_reply("help")
    assert len(stored(db)) == 4


def test_follow_welcomes_and_records_the_follower(client, db, clock):
    follower = Follower(client)
    reply = follower.follow(scene="campus_fair")
    assert reply.content == render_reply("welcome", scene="campus_fair")
    identity = db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)).one()
    assert identity.subscribed and identity.subscribe_scene == "campus_fair"
    assert identity.subscribed_at == clock.current and identity.last_interaction_at == clock.current
