"""Each official account's `mode` is its 消息加解密方式 in WeChat's console: plaintext, compatible (WeChat sends
the plain fields and an Encrypt element together) or safe (encrypted only); wechat-platform.md §1.3."""

from __future__ import annotations

import re

import pytest

from tests.conftest import AES_KEY, base_config
from tests.wechat_helpers import Follower, xml_of
from wxbot.config import ConfigError, settings_from_dict
from wxbot.models import InboundMessage

COMPAT = {"name": "compat", "appid": "wxcompat00000001", "appsecret": "s", "token": "compattoken",
          "encoding_aes_key": AES_KEY, "original_id": "gh_compat000001", "mode": "compatible"}  # fmt: skip


@pytest.fixture
def compat_app(config_dict):
    config_dict["wechat"]["official"].append(dict(COMPAT))


def stored(db) -> int:
    db.expire_all()
    return db.query(InboundMessage).count()


def test_compatible_mode_takes_what_wechat_sends_and_plain_deliveries(compat_app, client, db):
    follower = Follower(client, "compat")
    assert follower.mode == "compatible"
    params, body = follower.signed(xml_of(follower.fields(MsgType="text", Content="帮助", MsgId=11)))
    assert b"<Content>" in body and b"<Encrypt>" in body  # both forms in one body, as WeChat sends them
    reply = follower.read_reply(follower.post(body, params), params)
    assert reply.status == 200 and reply.content  # answered encrypted (read_reply decrypted it)
    follower.mode = "plaintext"  # a plain delivery, as before the console's switch took effect
    plain = follower.send_text("帮助")
    assert plain.status == 200 and plain.content == reply.content
    assert stored(db) == 2


def test_compatible_mode_reads_the_decrypted_fields_not_the_plain_ones(compat_app, client, db):
    follower = Follower(client, "compat")
    params, body = follower.signed(xml_of(follower.fields(MsgType="text", Content="真的", MsgId=12)))
    forged = body.replace("真的".encode(), "伪造".encode())  # the plain copy is covered by no msg_signature
    assert follower.read_reply(follower.post(forged, params), params).status == 200
    db.expire_all()
    assert db.query(InboundMessage).one().fields["Content"] == "真的"


def test_a_plaintext_body_to_a_safe_account_is_refused_with_a_reason(client, db):
    follower = Follower(client)  # "oa" has an EncodingAESKey and no mode: safe
    assert client.application.extensions["wxbot"].settings.official_account("oa").mode == "safe"
    follower.mode = "plaintext"
    reply = follower.send_text("hi")
    assert reply.status == 403 and "plaintext delivery" in reply.text and "safe" in reply.text
    assert stored(db) == 0


def test_an_explicit_plaintext_mode_refuses_encrypted_deliveries_even_with_a_key(config_dict, client_factory):
    config_dict["wechat"]["official"][0]["mode"] = "plaintext"
    client = client_factory()
    follower = Follower(client)
    assert follower.send_text("hi").status == 200
    follower.mode = "safe"
    reply = follower.send_text("hi again")
    assert reply.status == 403 and "mode is plaintext" in reply.text


@pytest.fixture
def client_factory(config_dict):
    from wxbot import create_app
    from wxbot.db import Base

    made = []

    def make():
        app = create_app(settings_from_dict(config_dict, env={}))
        app.config["TESTING"] = True
        if app.extensions["wxbot"].engine.dialect.name == "sqlite":
            Base.metadata.create_all(app.extensions["wxbot"].engine)
        made.append(app)
        return app.test_client()

    yield make
    for app in made:
        app.extensions["wxbot"].engine.dispose()


@pytest.mark.parametrize(
    ("account", "key"),
    [
        ({"mode": "aes"}, "wechat.official[0].mode"),
        ({"mode": "compatible", "encoding_aes_key": ""}, "wechat.official[0].encoding_aes_key"),
        ({"mode": "safe", "encoding_aes_key": ""}, "wechat.official[0].encoding_aes_key"),
    ],
)
def test_a_mode_that_cannot_work_stops_start_up(tmp_path, account, key):
    raw = base_config(tmp_path)
    raw["wechat"]["official"][0].update(account)
    with pytest.raises(ConfigError, match="^" + re.escape(key)):
        settings_from_dict(raw, env={})


def test_the_mode_defaults_to_safe_with_a_key_and_plaintext_without(tmp_path):
    raw = base_config(tmp_path)
    raw["wechat"]["official"].append({"name": "p", "appid": "wxp", "appsecret": "s", "token": "ptoken"})
    settings = settings_from_dict(raw, env={})
    assert (settings.official_account("oa").mode, settings.official_account("p").mode) == (
        "safe",
        "plaintext",
    )
