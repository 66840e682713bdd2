"""Signatures and the AES envelope against WeChat's and wechatpy's published sample values."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from wxbot.models import InboundMessage
from wxbot.wechat.crypto import CryptoError, MessageCrypto, signature, signature_matches

# wechatpy tests/test_crypto.py (the WeCom variant: corp_id where the official account has its appid)
WECOM_TOKEN, WECOM_KEY, WECOM_ID = (
    "123456",
    "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "wx49f0ab532d5d035a",
)
WECOM_ENCRYPTED = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hI"
    "iOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEv"
    "ccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
WECOM_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
WECOM_REPLY_ENVELOPE = """<xml>
<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>
<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>
<TimeStamp>1411525903</TimeStamp>
<Nonce><![CDATA[461056294]]></Nonce>
</xml>"""

# WeChat's own sample (WXBizMsgCrypt Sample.py of the official-account message encryption docs)
OA_SAMPLE = {"name": "sample", "appid": "wx2c2769f8efd9abc2", "appsecret": "s", "token": "spamtest",
             "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "original_id": "gh_10f6c3c3ac5a"}  # fmt: skip
OA_SAMPLE_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655Hu"
    "D0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNl"
    "ZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZ"
    "bGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM"
    "9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"
)
OA_SAMPLE_QUERY = {"timestamp": "1409735669", "nonce": "1320562132",
                   "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "encrypt_type": "aes"}  # fmt: skip


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def test_url_signature_matches_the_documented_example():
    # wechat-platform.md §1.1: token AAAAA, timestamp 1714036504, nonce 1514711492 -> f464b24f…41696
    value = signature("AAAAA", "1714036504", "1514711492")
    assert value.startswith("f464b24f") and value.endswith("41696")
    assert signature_matches(value, "AAAAA", "1714036504", "1514711492")
    assert not signature_matches(value, "AAAAA", "1714036504", "1514711493")
    assert not signature_matches("", "AAAAA", "1714036504", "1514711492")


def test_url_check_answers_the_documented_example(config_dict, clock):
    config_dict["wechat"]["official"].append(
        {
            "name": "doc",
            "appid": "wxdoc",
            "appsecret": "s",
            "token": "AAAAA",
            "encoding_aes_key": OA_SAMPLE["encoding_aes_key"],
        }
    )
    clock.set(at(1714036504))
    from wxbot import create_app
    from wxbot.config import settings_from_dict

    client = create_app(settings_from_dict(config_dict, env={})).test_client()
    query = {"signature": signature("AAAAA", "1714036504", "1514711492"), "timestamp": "1714036504",
             "nonce": "1514711492", "echostr": "7178735342867853621"}  # fmt: skip
    response = client.get("/wechat/doc", query_string=query)
    # plain echostr even though the account has an AES key (safe mode)
    assert response.status_code == 200 and response.get_data(as_text=True) == "7178735342867853621"


def test_decrypts_wechatpys_published_ciphertext():
    xml = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID).decrypt(WECOM_ENCRYPTED)
    assert b"<Content><![CDATA[test]]></Content>" in xml and b"messense" in xml


def test_encrypts_to_wechatpys_published_envelope():
    crypto = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID)
    envelope = crypto.envelope(
        WECOM_REPLY.encode(), "1411525903", "461056294", random_prefix=b"1234567890123456"
    )
    assert envelope == WECOM_REPLY_ENVELOPE


def test_refuses_a_ciphertext_for_another_appid():
    with pytest.raises(CryptoError, match="appid"):
        MessageCrypto(WECOM_TOKEN, WECOM_KEY, "wx_somebody_else").decrypt(WECOM_ENCRYPTED)


def test_wechats_own_sample_delivery_is_accepted_and_stored(config_dict, clock):
    """The official sample: compatible mode (plain fields plus Encrypt), checked by its published msg_signature."""
    config_dict["wechat"]["official"].append(dict(OA_SAMPLE))
    clock.set(at(1409735669))
    from wxbot import create_app
    from wxbot.config import settings_from_dict
    from wxbot.db import Base

    app = create_app(settings_from_dict(config_dict, env={}))
    services = app.extensions["wxbot"]
    if services.engine.dialect.name == "sqlite":
        Base.metadata.create_all(services.engine)
    query = {**OA_SAMPLE_QUERY, "signature": signature("spamtest", "1409735669", "1320562132")}
    response = app.test_client().post("/wechat/sample", query_string=query, data=OA_SAMPLE_BODY)
    assert response.status_code == 200
    with services.session_factory() as session:
        (row,) = session.scalars(sa.select(InboundMessage)).all()
        assert row.fields["Content"] == "abcdteT" and row.msg_id == "6054768590064713728"
        assert row.sent_at == at(1409735668)
    # the reply is encrypted for the sample account and signed with the request's timestamp and nonce
    from wechatpy.crypto import WeChatCrypto

    plain = WeChatCrypto("spamtest", OA_SAMPLE["encoding_aes_key"], OA_SAMPLE["appid"]).decrypt_message(
        response.get_data(as_text=True), _field(response, "MsgSignature"), "1409735669", "1320562132"
    )
    assert "oyORnuP8q7ou2gfYjqLzSIWZf0rs" in plain
    services.engine.dispose()


def _field(response, name):
    import xmltodict

    return xmltodict.parse(response.get_data(as_text=True))["xml"][name]


BLOCKS = st.integers(1, 6).flatmap(lambda n: st.binary(min_size=32 * n, max_size=32 * n))


@given(BLOCKS.map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=200))
def test_arbitrary_ciphertexts_are_refused_with_a_reason(text):
    """Whole AES blocks reach the padding, length and appid checks; any other text fails earlier. Either
    way the only exception is CryptoError (which the gateway turns into a 403)."""
    with contextlib.suppress(CryptoError):
        assert isinstance(MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID).decrypt(text), bytes)


@given(st.binary(max_size=3000))
def test_encrypt_then_decrypt_round_trips(xml):
    crypto = MessageCrypto(WECOM_TOKEN, WECOM_KEY, WECOM_ID)
    assert crypto.decrypt(crypto.encrypt(xml)) == xml
