"""Talk to the official-account callback the way WeChat does, in one line per step:

    follower = Follower(client)                 # a new follower of the test account "oa"
    assert "欢迎" in follower.follow().content
    assert follower.send_text("帮助").content == render_reply_text("help")
    follower.click("JOBS").articles[0]["Title"]

Every request is signed (and in compatible/safe mode encrypted) independently of wxbot's own code, with
wechatpy's crypto, and every reply is checked and decrypted the same way before it is parsed. The mode
defaults to the account's configured one (safe when it has an EncodingAESKey, plaintext otherwise).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto

from wxbot import clock

MODES = ("plaintext", "compatible", "safe")
_msg_ids = itertools.count(7_000_000_000_000_000_000 + secrets.randbelow(10**15))


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()


def new_openid() -> str:
    """A random openid shaped like WeChat's (28 characters, starting with o)."""
    return "o" + secrets.token_urlsafe(21)[:27].replace("-", "A").replace("_", "B")


def xml_of(fields: dict[str, Any]) -> str:
    """<xml> with one child per field; strings in CDATA, numbers bare, dicts nested."""

    def render(value: Any) -> str:
        if isinstance(value, dict):
            return "".join(f"<{k}>{render(v)}</{k}>" for k, v in value.items())
        if isinstance(value, int):
            return str(value)
        return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"

    return f"<xml>{render(fields)}</xml>"


@dataclass
class CallbackReply:
    """What the callback answered: the HTTP status, and the passive reply (decrypted) if there was one."""

    status: int
    text: str  # the raw (plaintext mode) or decrypted body
    fields: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)

    @property
    def msg_type(self) -> str | None:
        return self.fields.get("MsgType")

    @property
    def content(self) -> str | None:
        return self.fields.get("Content")

    @property
    def articles(self) -> list[dict[str, Any]]:
        items = (self.fields.get("Articles") or {}).get("item", [])
        return items if isinstance(items, list) else [items]


class Follower:
    def __init__(self, client: Any, app: str = "oa", *, openid: str | None = None, mode: str | None = None):
        settings = client.application.extensions["wxbot"].settings
        self.account = settings.official_account(app)
        assert self.account is not None, f"no official account {app!r} in the test settings"
        self.client = client
        self.app = app
        self.openid = openid or new_openid()
        self.mode = mode or self.account.mode
        assert self.mode in MODES
        self.crypto = (
            WeChatCrypto(self.account.token, self.account.encoding_aes_key, self.account.appid)
            if self.account.encoding_aes_key
            else None
        )
        self.last_xml: str | None = None
        self._last_create_time = 0

    # ------------------------------------------------------------ what a follower does

    def send_text(self, content: str, **extra: Any) -> CallbackReply:
        return self.message("text", Content=content, **extra)

    def message(self, msg_type: str, **fields: Any) -> CallbackReply:
        """An ordinary message (text, image, voice, location, ...) with a fresh MsgId unless given."""
        fields.setdefault("MsgId", next(_msg_ids))
        return self.send(self.fields(MsgType=msg_type, **fields))

    def follow(self, scene: str | None = None) -> CallbackReply:
        """A follow; with a scene, through a parametric QR code (EventKey qrscene_<scene>)."""
        extra = {"EventKey": f"qrscene_{scene}", "Ticket": "TICKET"} if scene is not None else {}
        return self.event("subscribe", **extra)

    def unfollow(self) -> CallbackReply:
        return self.event("unsubscribe")

    def scan(self, scene: str) -> CallbackReply:
        return self.event("SCAN", EventKey=scene, Ticket="TICKET")

    def click(self, key: str) -> CallbackReply:
        return self.event("CLICK", EventKey=key)

    def event(self, name: str, **fields: Any) -> CallbackReply:
        return self.send(self.fields(MsgType="event", Event=name, **fields))

    # ------------------------------------------------------------ lower level

    def fields(self, **fields: Any) -> dict[str, Any]:
        """A delivery's fields from this follower; CreateTime grows by at least a second per delivery, so two
        events under a frozen clock are not taken for one retried delivery."""
        create_time = max(clock.timestamp(), self._last_create_time + 1)
        self._last_create_time = create_time
        head = {
            "ToUserName": self.account.original_id,
            "FromUserName": self.openid,
            "CreateTime": create_time,
        }
        return {**head, **fields}

    def send(self, delivery: dict[str, Any] | str) -> CallbackReply:
        """Deliver fields or a plaintext XML string as WeChat would in this follower's mode."""
        xml = delivery if isinstance(delivery, str) else xml_of(delivery)
        self.last_xml = xml
        reply = self.deliver(xml)
        if reply and isinstance(delivery, dict):
            assert reply.fields["ToUserName"] == delivery["FromUserName"], "the reply goes back to the sender"
        return reply

    def redeliver(self) -> CallbackReply:
        """WeChat's retry of the last delivery (same body, freshly signed)."""
        assert self.last_xml is not None
        return self.deliver(self.last_xml)

    def deliver(
        self, xml: str | bytes, *, timestamp: int | None = None, nonce: str | None = None
    ) -> CallbackReply:
        """Sign (and encrypt) any body, well formed or not, and post it."""
        params, body = self.signed(xml, timestamp=timestamp, nonce=nonce)
        return self.read_reply(self.post(body, params), params)

    def signed(
        self, xml: str | bytes, *, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would send for `xml` in this follower's mode."""
        raw = xml.encode() if isinstance(xml, str) else xml
        ts = str(clock.timestamp() if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        params = {"signature": sign(self.account.token, ts, nonce), "timestamp": ts, "nonce": nonce,
                  "openid": self.openid}  # fmt: skip
        if self.mode == "plaintext":
            return params, raw
        assert self.crypto is not None, "encrypted modes need an EncodingAESKey"
        envelope = xmltodict.parse(self.crypto.encrypt_message(raw, nonce, ts))["xml"]
        encrypted = envelope["Encrypt"]
        params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        if self.mode == "safe":
            outer = {"ToUserName": self.account.original_id, "Encrypt": encrypted}
            return params, xml_of(outer).encode()
        # compatible: the plaintext fields and the Encrypt element side by side
        return params, raw.replace(b"</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode())

    def post(self, body: bytes, params: dict[str, str]) -> Any:
        return self.client.post(f"/wechat/{self.app}", query_string=params, data=body,
                                content_type="text/xml")  # fmt: skip

    def read_reply(self, response: Any, params: dict[str, str]) -> CallbackReply:
        text = response.get_data(as_text=True)
        if response.status_code != 200:
            return CallbackReply(response.status_code, text)
        if params.get("encrypt_type") == "aes":
            assert text != "success", "encrypted modes answer an empty body when there is no reply"
            if not text:
                return CallbackReply(200, "")
            envelope = xmltodict.parse(text)["xml"]
            assert envelope["TimeStamp"] == params["timestamp"] and envelope["Nonce"] == params["nonce"]
            assert self.crypto is not None
            text = self.crypto.decrypt_message(
                text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
        elif text == "success":
            return CallbackReply(200, text)
        reply = xmltodict.parse(text)["xml"]
        assert reply["FromUserName"] == self.account.original_id and reply["ToUserName"]
        return CallbackReply(200, text, dict(reply))
