"""The official-account callback through its public surface: signed requests in, replies out."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from wechatpy.crypto import WeChatCrypto

from tests.conftest import AES_KEY, OA
from tests.wechat_helpers import Follower, new_openid, sign, xml_of
from wxbot.handlers import render_reply_text
from wxbot.models import Identity, InboundMessage


def detached(db, rows):
    """Rows read for checking, detached, and the session's transaction ended: on SQLite every transaction
    takes the write lock (BEGIN IMMEDIATE), so a test must not hold one while the app works."""
    rows = list(rows)
    db.expunge_all()
    db.rollback()
    return rows


def stored(db) -> list[InboundMessage]:
    return detached(db, db.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)))


def nothing_stored(db) -> bool:
    return not stored(db) and not detached(db, db.scalars(sa.select(Identity)))


# ---------------------------------------------------------------- answers in each mode


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_help_keyword_in_encrypted_modes(client, db, mode):
    follower = Follower(client, mode=mode)
    reply = follower.send_text("帮助")
    assert reply.status == 200 and reply.msg_type == "text"
    assert reply.content == render_reply_text("help")
    (row,) = stored(db)
    assert row.msg_type == "text" and row.fields["Content"] == "帮助" and row.reply["type"] == "text"


def test_help_keyword_in_plaintext_mode(plain_app, client, db):
    follower = Follower(client, "plain")
    assert follower.mode == "plaintext"
    for word in ("help", " HELP ", "?", "？"):
        assert follower.send_text(word).content == render_reply_text("help")
    assert len(stored(db)) == 4


def test_unknown_text_gets_the_default_reply_and_other_messages_an_acknowledgement(client):
    follower = Follower(client)
    assert follower.send_text("你好，在吗").content == render_reply_text("default")
    assert follower.message("image", PicUrl="http://x/y.jpg", MediaId="m1").content == render_reply_text(
        "received"
    )


def test_menu_clicks(client):
    follower = Follower(client)
    (card,) = follower.click("JOBS").articles
    assert card["Title"] == "最新职位" and card["Url"].startswith("https://")
    assert follower.click("HELP").content == render_reply_text("help")
    assert follower.click("ABOUT").content == render_reply_text("about")


def test_nothing_to_say_is_success_in_plaintext_and_empty_when_encrypted(plain_app, client):
    plain = Follower(client, "plain")
    plain.follow()
    reply = plain.unfollow()
    assert reply.status == 200 and reply.text == "success" and not reply
    for mode in ("safe", "compatible"):
        follower = Follower(client, mode=mode)
        reply = follower.event("VIEW", EventKey="https://example.com/")
        assert reply.status == 200 and reply.text == "" and not reply


def test_reply_text_survives_cdata_terminators(client, services):
    from wxbot.handlers import Router, TextReply

    router = Router()
    router.default(lambda ctx: TextReply("a ]]> b <c> & d"))
    services.router = router
    assert Follower(client).send_text("x").content == "a ]]> b <c> & d"


# ---------------------------------------------------------------- URL verification (GET)


def signed_query(
    token: str = OA["token"], timestamp: int | None = None, nonce: str = "12345"
) -> dict[str, str]:
    from wxbot import clock

    ts = str(clock.timestamp() if timestamp is None else timestamp)
    return {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def test_url_verification_echoes_only_when_signed(client):
    ok = client.get("/wechat/oa", query_string={**signed_query(), "echostr": "5837397520294867"})
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "5837397520294867"
    bad = client.get("/wechat/oa", query_string={**signed_query(token="other"), "echostr": "1"})
    assert bad.status_code == 403
    assert client.get("/wechat/oa", query_string={"echostr": "1"}).status_code == 403
    assert client.get("/wechat/oa", query_string=signed_query()).status_code == 403  # no echostr
    assert client.get("/wechat/oa", query_string={**signed_query(), "echostr": "<x>"}).status_code == 403
    assert client.get("/wechat/nope", query_string={**signed_query(), "echostr": "1"}).status_code == 404


# ---------------------------------------------------------------- refusals


def post(client, body: bytes | str, query: dict[str, str], app: str = "oa"):
    data = body.encode() if isinstance(body, str) else body
    return client.post(f"/wechat/{app}", query_string=query, data=data, content_type="text/xml")


def test_refusals_of_the_query(client, db, clock):
    follower = Follower(client)
    params, body = follower.signed(xml_of(follower.fields(MsgType="text", Content="hi", MsgId=1)))
    cases = {
        "no signature": ({k: v for k, v in params.items() if k != "signature"}, 403),
        "bad signature": ({**params, "signature": "0" * 40}, 403),
        "no msg_signature": ({k: v for k, v in params.items() if k != "msg_signature"}, 403),
        "bad msg_signature": ({**params, "msg_signature": "f" * 40}, 403),
        "no timestamp": ({k: v for k, v in params.items() if k != "timestamp"}, 400),
        "no nonce": ({k: v for k, v in params.items() if k != "nonce"}, 400),
        "odd encrypt_type": ({**params, "encrypt_type": "rsa"}, 400),
        "plaintext to an encrypted account": ({k: v for k, v in params.items() if k != "encrypt_type"}, 403),
    }
    for what, (query, status) in cases.items():
        assert post(client, body, query).status_code == status, what
    assert post(client, body, params, app="unknown").status_code == 404
    assert nothing_stored(db)
    assert post(client, body, params).status_code == 200  # the untouched request was fine all along


def test_stale_and_future_timestamps_are_refused(client, db, clock):
    from wxbot import clock as clock_module

    follower = Follower(client)
    xml = xml_of(follower.fields(MsgType="text", Content="hi", MsgId=2))
    for offset in (-301, 301):
        assert follower.deliver(xml, timestamp=clock_module.timestamp() + offset).status == 403
    assert nothing_stored(db)
    assert follower.deliver(xml, timestamp=clock_module.timestamp() - 299).status == 200


def test_ciphertext_for_another_appid_is_refused(client, db):
    follower = Follower(client)
    follower.crypto = WeChatCrypto(
        OA["token"], AES_KEY, "wx_another_app"
    )  # signs correctly, wrong appid inside
    reply = follower.send_text("hi")
    assert reply.status == 403 and "appid" in reply.text
    assert nothing_stored(db)


def test_encrypted_delivery_to_a_plaintext_account_is_refused(plain_app, client, db):
    follower = Follower(client, "plain")
    follower.mode, follower.crypto = "safe", WeChatCrypto("plaintoken", AES_KEY, "wxplain000000001")
    assert follower.send_text("hi").status == 403
    assert nothing_stored(db)


BAD_BODIES = {
    "doctype": '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "b">]><xml><MsgType>text</MsgType></xml>',
    "entity only": '<!ENTITY x SYSTEM "file:///etc/passwd"><xml/>',
    "lower-case doctype": "<!doctype xml><xml></xml>",
    "malformed": "<xml><ToUserName>gh</xml>",
    "not xml": "hello",
    "empty": "",
    "wrong root": "<message><MsgType>text</MsgType></message>",
    "empty root": "<xml></xml>",
    "too deep": "<xml>" + "<a>" * 10 + "x" + "</a>" * 10 + "</xml>",
}


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
@pytest.mark.parametrize("what", sorted(BAD_BODIES))
def test_bad_bodies_are_refused_before_parsing(plain_app, client, db, mode, what, caplog):
    """As the body of a plaintext delivery, and inside a correctly signed and encrypted envelope."""
    follower = Follower(client, "plain" if mode == "plaintext" else "oa")
    reply = follower.deliver(BAD_BODIES[what])
    assert reply.status == 400, (what, reply.text)
    assert nothing_stored(db)
    assert any("wechat callback refused" in r.getMessage() for r in caplog.records)


def test_bodies_that_are_not_utf8_are_refused(plain_app, client, db):
    follower = Follower(client, "plain")
    params, _ = follower.signed("")
    body = '<?xml version="1.0" encoding="UTF-16"?><xml><Content>x</Content></xml>'.encode("utf-16")
    for raw in (b"<xml><Content>\xff\xfe</Content></xml>", body):
        assert post(client, raw, params, app="plain").status_code == 400
    assert nothing_stored(db)


MISSING = {
    "ToUserName": {"FromUserName": "oX", "CreateTime": 1, "MsgType": "text", "Content": "x"},
    "FromUserName": {"ToUserName": OA["original_id"], "CreateTime": 1, "MsgType": "text", "Content": "x"},
    "CreateTime": {"ToUserName": OA["original_id"], "FromUserName": "oX", "MsgType": "text", "Content": "x"},
    "MsgType": {"ToUserName": OA["original_id"], "FromUserName": "oX", "CreateTime": 1},
    "Event": {"ToUserName": OA["original_id"], "FromUserName": "oX", "CreateTime": 1, "MsgType": "event"},
}


@pytest.mark.parametrize("field", sorted(MISSING))
def test_missing_fields_are_refused(client, db, field):
    reply = Follower(client).deliver(xml_of(MISSING[field]))
    assert reply.status == 400 and field in reply.text
    assert nothing_stored(db)


def test_malformed_fields_and_foreign_recipients_are_refused(client, db):
    follower = Follower(client)
    base = follower.fields(MsgType="text", Content="x", MsgId=3)
    assert follower.send({**base, "CreateTime": "yesterday"}).status == 400
    assert follower.send({**base, "FromUserName": "<script>"}).status == 400
    assert follower.send({**base, "MsgId": "12ab"}).status == 400
    assert follower.send({**base, "ToUserName": "gh_somebody_else"}).status == 403
    assert follower.send({**base, "EventKey": "k" * 2000, "MsgType": "event", "Event": "CLICK"}).status == 400
    assert nothing_stored(db)


def test_oversize_bodies_are_refused(client, db, services):
    limit = services.settings.callback.max_body_bytes
    follower = Follower(client)
    reply = follower.send_text("长" * (limit // 3 + 1))
    assert reply.status == 413
    assert nothing_stored(db)


def test_refusals_are_logged_without_personal_data(client, caplog):
    caplog.set_level(logging.INFO)
    follower = Follower(client)
    follower.crypto = WeChatCrypto(OA["token"], AES_KEY, "wx_another_app")
    follower.send_text("my phone is 13812345678")
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert "app='oa'" in record.getMessage() and "status=403" in record.getMessage()
    assert follower.openid not in record.getMessage() and "138" not in record.getMessage()


# ---------------------------------------------------------------- followers


def identity_of(db, follower) -> Identity:
    (identity,) = detached(db, db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)))
    return identity


def test_follow_welcomes_and_records_the_follower(client, db, clock):
    follower = Follower(client)
    reply = follower.follow(scene="campus_fair")
    assert reply.content == render_reply_text("welcome", scene="campus_fair")
    identity = identity_of(db, follower)
    assert identity.subscribed and identity.subscribe_scene == "campus_fair" and identity.kind == "official"
    assert identity.subscribed_at == clock.current and identity.last_interaction_at == clock.current
    assert identity.unionid is None and identity.unionid_checked_at is None  # a job asks WeChat later
    (row,) = stored(db)
    assert row.event == "subscribe" and row.event_key == "qrscene_campus_fair"


def test_follower_lifecycle(client, db, clock):
    follower = Follower(client)
    follower.follow()
    first_follow = clock.current
    assert identity_of(db, follower).subscribe_scene is None

    clock.advance(hours=1)
    follower.unfollow()
    identity = identity_of(db, follower)
    assert not identity.subscribed and identity.unsubscribed_at == clock.current
    assert identity.subscribed_at == first_follow

    clock.advance(days=2)
    follower.follow(scene="poster_7")
    identity = identity_of(db, follower)
    assert (
        identity.subscribed
        and identity.subscribed_at == clock.current
        and identity.subscribe_scene == "poster_7"
    )

    clock.advance(minutes=5)
    assert not follower.scan("booth_3")  # a follower scanning another code: stays following, nothing to say
    identity = identity_of(db, follower)
    assert identity.subscribed and identity.subscribe_scene == "poster_7"
    assert identity.last_interaction_at == clock.current
    # the unsubscribe dropped what came before it (privacy.on_unsubscribe); its own delivery stays for retries
    assert [r.event for r in stored(db)] == ["unsubscribe", "subscribe", "scan"]
    assert len({r.identity_id for r in stored(db)}) == 1


def test_a_message_from_someone_we_never_saw_follow_makes_them_a_follower(client, db, clock):
    follower = Follower(client)
    follower.send_text("hi")
    identity = identity_of(db, follower)
    assert identity.subscribed and identity.last_interaction_at == clock.current


def test_a_message_after_a_follow_we_missed_catches_the_follow_up(client, db, clock):
    """WeChat delivers messages only from followers: someone recorded as gone who writes has followed again
    (that delivery was lost), so they follow now and their unionid is asked again; a follower who stayed
    keeps theirs."""
    gone, stayed = Follower(client), Follower(client)
    gone.follow()
    stayed.follow()
    followed_at = clock.current
    clock.advance(hours=1)
    gone.unfollow()
    for follower in (gone, stayed):
        db.execute(
            sa.update(Identity)
            .where(Identity.openid == follower.openid)
            .values(unionid_checked_at=clock.current)
        )
    db.commit()
    checked_at = clock.current

    clock.advance(days=1)
    gone.send_text("我又关注了")
    stayed.send_text("你好")
    db.expire_all()
    back, still = identity_of(db, gone), identity_of(db, stayed)
    assert back.subscribed and back.subscribed_at == followed_at and back.unionid_checked_at is None
    assert still.subscribed and still.subscribed_at == followed_at and still.unionid_checked_at == checked_at
    assert back.last_interaction_at == still.last_interaction_at == clock.current


def test_reports_from_wechat_do_not_count_as_interaction(client, db, clock):
    follower = Follower(client)
    follower.follow()
    followed_at = clock.current
    clock.advance(hours=3)
    follower.event("TEMPLATESENDJOBFINISH", MsgID="1000", Status="success")
    assert identity_of(db, follower).last_interaction_at == followed_at


def test_openids_are_per_account(plain_app, client, db):
    openid = new_openid()
    Follower(client, openid=openid).follow()
    Follower(client, "plain", openid=openid).follow()
    assert sorted(i.app_name for i in detached(db, db.scalars(sa.select(Identity)))) == ["oa", "plain"]


def test_a_persons_messages_are_exported_and_erased_with_their_rights(client, db):
    from wxbot.models import Account
    from wxbot.privacy import registry as rights

    follower, stranger = Follower(client), Follower(client)
    follower.send_text("我想找实习")
    stranger.send_text("别人的消息")
    account = Account(platform_account_id="p-1")
    db.add(account)
    db.flush()
    db.execute(sa.update(Identity).where(Identity.openid == follower.openid).values(account_id=account.id))
    db.commit()
    (module,) = [m for m in rights.modules() if m.name == "inbound_messages"]
    (exported,) = module.export(db, account.id)
    assert exported["fields"]["Content"] == "我想找实习" and exported["reply"]["type"] == "text"
    assert module.erase(db, account.id) == {"inbound_messages": 1, "reply_windows": 1}
    db.commit()
    assert [r.fields["Content"] for r in stored(db)] == ["别人的消息"]
    windows = {i.openid: i.message_window_expires_at for i in detached(db, db.scalars(sa.select(Identity)))}
    assert windows[follower.openid] is None and windows[stranger.openid] is not None
