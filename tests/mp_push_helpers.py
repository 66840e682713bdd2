"""Talk to a mini program's 消息推送 (/wechat/mp/<name>) the way WeChat does, one line per step:

    user = MpUser(client)                       # a user of the test mini program "mp", in its mode and format
    assert user.text("你好").status == 200      # `success` (plaintext) or an empty body (encrypted)
    user.enter("help-button"); user.image("media-1"); user.card("岗位详情", "pages/job/index?id=7")

Requests are signed and encrypted with wechatpy's crypto, independently of wxbot's own code; bodies are XML
or JSON as the mini program's data_format (or the one given).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy.crypto import PrpCrypto

from tests.wechat_helpers import new_openid, xml_of
from wxbot import clock

_msg_ids = itertools.count(8_000_000_000_000_000_000 + secrets.randbelow(10**15))


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()


@dataclass
class PushAnswer:
    status: int
    text: str


class MpUser:
    def __init__(self, client: Any, app: str = "mp", *, openid: str | None = None, mode: str | None = None,
                 data_format: str | None = None) -> None:  # fmt: skip
        settings = client.application.extensions["wxbot"].settings
        self.mp = settings.miniprogram(app)
        assert self.mp is not None and self.mp.token, f"no mini program {app!r} with message push"
        self.client = client
        self.app = app
        self.openid = openid or new_openid()
        self.mode = mode or self.mp.mode
        self.data_format = data_format or self.mp.data_format
        self.last_body: bytes | None = None
        self._last_create_time = 0

    # ------------------------------------------------------------ what a user does in the chat

    def text(self, content: str) -> PushAnswer:
        return self.message("text", Content=content)

    def image(self, media_id: str, pic_url: str = "http://mmbiz.example/pic.jpg") -> PushAnswer:
        return self.message("image", PicUrl=pic_url, MediaId=media_id)

    def card(self, title: str, page_path: str) -> PushAnswer:
        return self.message("miniprogrampage", Title=title, AppId=self.mp.appid, PagePath=page_path,
                            ThumbUrl="http://mmbiz.example/thumb.jpg", ThumbMediaId="thumb-1")  # fmt: skip

    def enter(self, session_from: str = "") -> PushAnswer:
        return self.send(
            self.fields(MsgType="event", Event="user_enter_tempsession", SessionFrom=session_from)
        )

    def message(self, msg_type: str, **fields: Any) -> PushAnswer:
        fields.setdefault("MsgId", next(_msg_ids))
        return self.send(self.fields(MsgType=msg_type, **fields))

    # ------------------------------------------------------------ lower level

    def fields(self, **fields: Any) -> dict[str, Any]:
        create_time = max(clock.timestamp(), self._last_create_time + 1)
        self._last_create_time = create_time
        return {"ToUserName": self.mp.original_id or "gh_mp0000000001", "FromUserName": self.openid,
                "CreateTime": create_time, **fields}  # fmt: skip

    def encode(self, fields: dict[str, Any]) -> bytes:
        if self.data_format == "json":
            return json.dumps(fields, ensure_ascii=False).encode()
        return xml_of(fields).encode()

    def send(self, fields: dict[str, Any]) -> PushAnswer:
        body = self.encode(fields)
        self.last_body = body
        return self.deliver(body, fields)

    def redeliver(self) -> PushAnswer:
        """WeChat's retry of the last delivery (same body, freshly signed)."""
        assert self.last_body is not None
        return self.deliver(self.last_body, self._decode(self.last_body))

    def _decode(self, body: bytes) -> dict[str, Any]:
        return json.loads(body) if self.data_format == "json" else dict(xmltodict.parse(body)["xml"])

    def deliver(self, raw: bytes, fields: dict[str, Any] | None = None, *, timestamp: int | None = None,
                tamper: str | None = None) -> PushAnswer:  # fmt: skip
        """Sign (and encrypt) any body and post it; `tamper` names a query parameter to forge."""
        params, body = self.signed(raw, fields or {}, timestamp=timestamp)
        if tamper:
            params[tamper] = "0" * 40
        response = self.client.post(
            f"/wechat/mp/{self.app}",
            query_string=params,
            data=body,
            content_type="application/json" if self.data_format == "json" else "text/xml",
        )
        return PushAnswer(response.status_code, response.get_data(as_text=True))

    def signed(self, raw: bytes, fields: dict[str, Any], *, timestamp: int | None = None
               ) -> tuple[dict[str, str], bytes]:  # fmt: skip
        ts = str(clock.timestamp() if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        params = {"signature": sign(self.mp.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if self.mode == "plaintext":
            return params, raw
        key = base64.b64decode(self.mp.encoding_aes_key + "=")
        encrypted = PrpCrypto(key).encrypt(raw.decode(), self.mp.appid)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        params.update(encrypt_type="aes", msg_signature=sign(self.mp.token, ts, nonce, encrypted))
        to_user = str(fields.get("ToUserName", "gh_mp0000000001"))
        outer = {"ToUserName": to_user, "Encrypt": encrypted}
        if self.mode == "compatible":
            outer = {**fields, "Encrypt": encrypted}
        return params, self.encode(outer)

    def verify(self, *, tamper: bool = False) -> Any:
        ts, nonce = str(clock.timestamp()), "12345"
        signature = "0" * 40 if tamper else sign(self.mp.token, ts, nonce)
        params = {"signature": signature, "timestamp": ts, "nonce": nonce, "echostr": "4375120948345356249"}
        return self.client.get(f"/wechat/mp/{self.app}", query_string=params)
