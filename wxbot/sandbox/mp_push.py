"""The sandbox as WeChat's sender of a mini program's 消息推送: the customer-service chat's deliveries to the bot's
/wechat/mp/<name>, in the mini program's data format (XML or JSON) and mode (plaintext, compatible, safe),
signed and encrypted as WeChat does (wechatpy's crypto, not wxbot's, so the two check each other).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy.crypto import PrpCrypto

from wxbot import clock
from wxbot.config.schema import MiniProgram
from wxbot.sandbox.callbacks import ATTEMPTS, DEADLINE_SECONDS, _sha1, build_xml

_msg_ids = itertools.count(6_500_000_000_000_000_000 + secrets.randbelow(10**15))


@dataclass
class PushAnswer:
    status: int | None
    problem: str | None = None  # what WeChat would hold against the answer


class MiniProgramPushSender:
    """Deliveries from one user of one mini program's customer-service chat to `url`."""

    def __init__(self, mp: MiniProgram, url: str, openid: str) -> None:
        self.mp, self.url, self.openid = mp, url, openid

    def text(self, content: str) -> PushAnswer:
        return self.deliver(self._common("text") | {"Content": content, "MsgId": next(_msg_ids)})

    def enter(self, session_from: str = "") -> PushAnswer:
        return self.deliver(
            self._common("event") | {"Event": "user_enter_tempsession", "SessionFrom": session_from}
        )

    def _common(self, msg_type: str) -> dict[str, Any]:
        return {"ToUserName": self.mp.original_id or "gh_sandbox_mp", "FromUserName": self.openid,
                "CreateTime": clock.timestamp(), "MsgType": msg_type}  # fmt: skip

    def _encode(self, fields: dict[str, Any]) -> str:
        if self.mp.data_format == "json":
            return json.dumps(fields, ensure_ascii=False)
        return build_xml(fields)

    def deliver(self, fields: dict[str, Any]) -> PushAnswer:
        plain = self._encode(fields)
        for _ in range(ATTEMPTS):
            timestamp, nonce = str(clock.timestamp()), str(secrets.randbelow(10**10))
            params = {"signature": _sha1(self.mp.token, timestamp, nonce), "timestamp": timestamp,
                      "nonce": nonce}  # fmt: skip
            body = plain
            if self.mp.mode != "plaintext":
                key = base64.b64decode(self.mp.encoding_aes_key + "=")
                encrypted = PrpCrypto(key).encrypt(plain, self.mp.appid)
                encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
                params |= {
                    "encrypt_type": "aes",
                    "msg_signature": _sha1(self.mp.token, timestamp, nonce, encrypted),
                }
                outer = {"ToUserName": fields["ToUserName"], "Encrypt": encrypted}
                body = self._encode(
                    fields | {"Encrypt": encrypted} if self.mp.mode == "compatible" else outer
                )
            content_type = "application/json" if self.mp.data_format == "json" else "text/xml"
            try:
                response = requests.post(self.url, params=params, data=body.encode(),
                                         headers={"Content-Type": content_type}, timeout=DEADLINE_SECONDS)  # fmt: skip
            except requests.Timeout:
                continue  # WeChat delivers the same message again
            except requests.RequestException as exc:
                return PushAnswer(None, f"the message push URL is unreachable ({type(exc).__name__})")
            if response.status_code != 200:
                return PushAnswer(response.status_code, f"the push URL answered HTTP {response.status_code}")
            return PushAnswer(200)
        return PushAnswer(None, f"no answer within {DEADLINE_SECONDS:.0f} s, {ATTEMPTS} times")
