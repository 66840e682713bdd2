"""The sandbox as WeChat's sender, against a stand-in callback: what it sends, and how it retries."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import AES_KEY
from wxbot.config.schema import OfficialAccount
from wxbot.sandbox import callbacks
from wxbot.sandbox.callbacks import CallbackSender
from wxbot.wechat.crypto import MessageCrypto
from wxbot.wechat.messages import parse_xml

PLAIN = OfficialAccount(name="p", appid="wxplain000000001", appsecret="s", token="tok", original_id="gh_p")
SAFE = OfficialAccount(name="s", appid="wxsafe0000000001", appsecret="s", token="tok", encoding_aes_key=AES_KEY,
                       original_id="gh_s")  # fmt: skip


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def callback():
    """A stand-in for the bot's callback: records each request; `answers` says how to answer the next ones."""
    seen, answers = [], []

    @Request.application
    def app(request):
        seen.append((dict(request.args), request.get_data()))
        delay, body = answers.pop(0) if answers else (0, b"success")
        time.sleep(delay)
        if isinstance(body, int):
            return Response("refused", status=body)
        return Response(body, content_type="text/xml")

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/wechat/x", seen, answers
    server.shutdown()
    thread.join(timeout=5)


def sha1(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def test_plaintext_deliveries_are_signed(callback):
    url, seen, _ = callback
    delivery = CallbackSender(PLAIN, url, "o-1").text("你好")
    assert delivery.status == 200 and delivery.reply is None and delivery.problem is None
    ((params, body),) = seen
    assert (
        params["signature"] == sha1("tok", params["timestamp"], params["nonce"]) and params["openid"] == "o-1"
    )
    fields = parse_xml(body)
    assert fields["MsgType"] == "text" and fields["Content"] == "你好" and fields["FromUserName"] == "o-1"
    assert fields["ToUserName"] == "gh_p" and fields["MsgId"].isdigit()


def test_safe_mode_deliveries_carry_only_the_ciphertext(callback):
    url, seen, _ = callback
    CallbackSender(SAFE, url, "o-1").click("JOBS")
    ((params, body),) = seen
    envelope = parse_xml(body)
    assert set(envelope) == {"ToUserName", "Encrypt"} and params["encrypt_type"] == "aes"
    assert params["msg_signature"] == sha1("tok", params["timestamp"], params["nonce"], envelope["Encrypt"])
    fields = parse_xml(MessageCrypto("tok", AES_KEY, SAFE.appid).decrypt(envelope["Encrypt"]))
    assert (fields["Event"], fields["EventKey"]) == ("CLICK", "JOBS")


def test_an_encrypted_reply_must_be_signed(callback):
    url, _, answers = callback
    crypto = MessageCrypto("tok", AES_KEY, SAFE.appid)
    reply = b"<xml><ToUserName>o-1</ToUserName><FromUserName>gh_s</FromUserName><CreateTime>1</CreateTime>" \
            b"<MsgType>text</MsgType><Content>hi</Content></xml>"  # fmt: skip
    encrypted = crypto.encrypt(reply)
    good = sha1("tok", "1", "n", encrypted)
    envelope = "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>1</TimeStamp><Nonce>n</Nonce></xml>"
    answers.append((0, envelope.format(encrypted, good).encode()))
    answers.append((0, envelope.format(encrypted, "0" * 40).encode()))

    assert CallbackSender(SAFE, url, "o-1").text("x").describe() == "hi"
    assert "not a valid passive reply" in CallbackSender(SAFE, url, "o-1").text("x").problem


def test_a_slow_callback_gets_the_same_delivery_again(callback, monkeypatch):
    # A deadline the third, immediate answer meets even on a loaded machine.
    monkeypatch.setattr(callbacks, "DEADLINE_SECONDS", 1.0)
    url, seen, answers = callback
    answers.extend([(1.5, b"success"), (1.5, b"success")])  # too slow twice, then in time

    delivery = CallbackSender(PLAIN, url, "o-1").text("在吗")

    assert delivery.problem is None and len(seen) == 3
    assert len({body for _, body in seen}) == 1  # the same message (same MsgId) each time


def test_a_callback_that_never_answers_in_time(callback, monkeypatch):
    monkeypatch.setattr(callbacks, "DEADLINE_SECONDS", 0.2)
    url, seen, answers = callback
    answers.extend([(0.4, b"success")] * 3)
    delivery = CallbackSender(PLAIN, url, "o-1").follow()
    assert delivery.status is None and "3 times" in delivery.problem and len(seen) == 3


def test_refusals_and_foreign_replies_are_problems(callback):
    url, _, answers = callback
    answers.append((0, b"<xml><ToUserName>someone-else</ToUserName><MsgType>text</MsgType></xml>"))
    assert CallbackSender(PLAIN, url, "o-1").text("x").problem == "the reply is addressed to someone else"
    answers.append((0, 403))
    delivery = CallbackSender(PLAIN, url, "o-1").text("x")
    assert delivery.status == 403 and delivery.problem == "the callback answered HTTP 403"
    assert "unreachable" in CallbackSender(PLAIN, "http://127.0.0.1:9/wechat/x", "o-1").text("x").problem


def test_compatible_deliveries_carry_the_plain_fields_and_encrypt(callback):
    url, seen, _ = callback
    compat = OfficialAccount(name="c", appid="wxcompat00000001", appsecret="s", token="tok",
                             encoding_aes_key=AES_KEY, original_id="gh_c", mode="compatible")  # fmt: skip
    assert CallbackSender(compat, url, "o-3").text("你好").status == 200
    ((params, body),) = seen
    fields = parse_xml(body)
    assert params["encrypt_type"] == "aes" and fields["Content"] == "你好"
    inner = parse_xml(MessageCrypto("tok", AES_KEY, "wxcompat00000001").decrypt(fields["Encrypt"]))
    assert inner["Content"] == "你好" and params["msg_signature"] == sha1("tok", params["timestamp"],
                                                                        params["nonce"], fields["Encrypt"])  # fmt: skip
