"""The sandbox as WeChat's sender: deliveries to the bot's callback, built as WeChat builds them (§1-§3).

Every delivery is signed (`signature` over token, timestamp, nonce) and sent in the account's mode: plaintext,
compatible (the plain fields and Encrypt side by side) or safe (only ToUserName and Encrypt in the body);
encrypted ones carry `encrypt_type=aes` and `msg_signature` in the query. The
crypto is wechatpy's, not wxbot.wechat.crypto's, so the two check each other. Like WeChat, an answer that does not
come within 5 seconds is delivered again (three attempts in all, same body), and an encrypted passive reply is
checked (MsgSignature) and decrypted before it is shown.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import WeChatException

from wxbot import clock
from wxbot.config.schema import OfficialAccount
from wxbot.wechat.messages import BadMessage, parse_xml

log = logging.getLogger(__name__)

DEADLINE_SECONDS = 5.0
ATTEMPTS = 3
_msg_ids = itertools.count(6_000_000_000_000_000_000 + secrets.randbelow(10**15))


@dataclass
class CallbackAnswer:
    """What the bot answered to one delivery."""

    status: int | None  # None: no answer within the deadline, on any attempt
    reply: dict[str, Any] | None  # the passive reply's fields, decrypted; None for `success`/empty
    problem: str | None = None  # what WeChat would hold against the answer (the user sees a failure notice)

    def describe(self) -> str:
        """The passive reply as the follower would see it."""
        if not self.reply:
            return ""
        if self.reply.get("MsgType") == "news":
            items = (self.reply.get("Articles") or {}).get("item") or []
            items = items if isinstance(items, list) else [items]
            return "\n".join(
                f"[{i.get('Title', '')}] {i.get('Description', '')} {i.get('Url', '')}".strip() for i in items
            )
        if self.reply.get("MsgType") == "text":
            return str(self.reply.get("Content") or "")
        return f"[{self.reply.get('MsgType')}]"


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324  (WeChat's signature)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_xml(fields: dict[str, str | int]) -> str:
    body = "".join(
        f"<{name}>{value if isinstance(value, int) else _cdata(value)}</{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{body}</xml>"


def _nested(wrapper: str, items: Sequence[Mapping[str, str | int]] | Sequence[Mapping[str, str]]) -> str:
    """<wrapper><List>...</List>...</wrapper>, one List per item, as subscribe events carry them."""
    lists = "".join(
        build_xml(dict(item)).replace("<xml>", "<List>").replace("</xml>", "</List>") for item in items
    )
    return f"<{wrapper}>{lists}</{wrapper}>"


class CallbackSender:
    """Deliveries from one follower of one official account to `callback_url`."""

    def __init__(self, account: OfficialAccount, callback_url: str, openid: str) -> None:
        self.account = account
        self.callback_url = callback_url
        self.openid = openid

    # ------------------------------------------------------------ what a follower does

    def follow(self, scene: str | None = None, ticket: str | None = None) -> CallbackAnswer:
        fields = self._event("subscribe")
        if scene is not None:
            fields.update(EventKey=f"qrscene_{scene}", Ticket=ticket or "")
        return self.deliver(fields)

    def unfollow(self) -> CallbackAnswer:
        fields = self._event("unsubscribe")
        fields["EventKey"] = ""
        return self.deliver(fields)

    def scan(self, scene: str, ticket: str) -> CallbackAnswer:
        fields = self._event("SCAN")
        fields.update(EventKey=scene, Ticket=ticket)
        return self.deliver(fields)

    def click(self, key: str) -> CallbackAnswer:
        fields = self._event("CLICK")
        fields["EventKey"] = key
        return self.deliver(fields)

    def view(self, url: str) -> CallbackAnswer:
        """A tap on a menu entry that opens a web page."""
        fields = self._event("VIEW")
        fields["EventKey"] = url
        return self.deliver(fields)

    def text(self, content: str) -> CallbackAnswer:
        fields = self._common("text")
        fields.update(Content=content, MsgId=next(_msg_ids))
        return self.deliver(fields)

    def subscription_popup(self, answers: dict[str, str], scene: int = 2) -> CallbackAnswer:
        """The follower answered a 订阅通知 popup (scene 1: an H5 page, 2: an article): template id ->
        accept | reject. (Whoever drives the sandbox also grants what was accepted: grant_subscription.)"""
        items: list[dict[str, str | int]] = [
            {"TemplateId": tid, "SubscribeStatusString": answer, "PopupScene": scene}
            for tid, answer in answers.items()
        ]
        return self.deliver(
            self._event("subscribe_msg_popup_event"), _nested("SubscribeMsgPopupEvent", items)
        )

    def subscription_change(self, template_ids: list[str]) -> CallbackAnswer:
        """The follower turned templates off in WeChat's notification settings (WeChat reports rejects only)."""
        items = [{"TemplateId": tid, "SubscribeStatusString": "reject"} for tid in template_ids]
        return self.deliver(
            self._event("subscribe_msg_change_event"), _nested("SubscribeMsgChangeEvent", items)
        )

    def notice_sent(self, template_id: str, msgid: int | str, error_code: int = 0,
                    error_status: str = "success") -> CallbackAnswer:  # fmt: skip
        """WeChat reports what became of a 订阅通知 it accepted."""
        items: list[dict[str, str | int]] = [{"TemplateId": template_id, "MsgID": str(msgid),
                                              "ErrorCode": error_code, "ErrorStatus": error_status}]  # fmt: skip
        return self.deliver(self._event("subscribe_msg_sent_event"), _nested("SubscribeMsgSentEvent", items))

    def _common(self, msg_type: str) -> dict[str, str | int]:
        return {"ToUserName": self.account.original_id, "FromUserName": self.openid,
                "CreateTime": clock.timestamp(), "MsgType": msg_type}  # fmt: skip

    def _event(self, event: str) -> dict[str, str | int]:
        fields = self._common("event")
        fields["Event"] = event
        return fields

    # ------------------------------------------------------------ the protocol

    def deliver(self, fields: dict[str, str | int], nested: str = "") -> CallbackAnswer:
        """Deliver `fields` (and `nested`: XML elements with children, put after them)."""
        xml = build_xml(fields).removesuffix("</xml>") + nested + "</xml>"
        for _ in range(ATTEMPTS):
            timestamp, nonce = str(clock.timestamp()), str(secrets.randbelow(10**10))
            params, body = self._signed(xml, timestamp, nonce)
            try:
                response = requests.post(self.callback_url, params=params, data=body.encode(),
                                         headers={"Content-Type": "text/xml"}, timeout=DEADLINE_SECONDS)  # fmt: skip
            except requests.Timeout:
                continue  # WeChat delivers the same message again
            except requests.RequestException as exc:
                return CallbackAnswer(None, None, f"the callback is unreachable ({type(exc).__name__})")
            return self._answer(response)
        return CallbackAnswer(None, None, f"no answer within {DEADLINE_SECONDS:.0f} s, {ATTEMPTS} times")

    def _signed(self, xml: str, timestamp: str, nonce: str) -> tuple[dict[str, str], str]:
        params = {"signature": _sha1(self.account.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                  "openid": self.openid}  # fmt: skip
        if self.account.mode == "plaintext":
            return params, xml
        key = base64.b64decode(self.account.encoding_aes_key + "=")
        encrypted = PrpCrypto(key).encrypt(xml, self.account.appid)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        params.update(
            encrypt_type="aes", msg_signature=_sha1(self.account.token, timestamp, nonce, encrypted)
        )
        if self.account.mode == "compatible":
            return params, xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        body = build_xml({"ToUserName": self.account.original_id, "Encrypt": encrypted})
        return params, body

    def _answer(self, response: requests.Response) -> CallbackAnswer:
        if response.status_code != 200:
            return CallbackAnswer(
                response.status_code, None, f"the callback answered HTTP {response.status_code}"
            )
        text = response.content.strip()
        if text in (b"", b"success"):
            return CallbackAnswer(200, None)
        try:
            fields = parse_xml(text)
            if self.account.mode != "plaintext":
                crypto = WeChatCrypto(self.account.token, self.account.encoding_aes_key, self.account.appid)
                plain = crypto.decrypt_message(text.decode(), str(fields.get("MsgSignature", "")),
                                               str(fields.get("TimeStamp", "")), str(fields.get("Nonce", "")))  # fmt: skip
                fields = parse_xml(plain.encode() if isinstance(plain, str) else plain)
        except (BadMessage, WeChatException, ValueError, KeyError) as exc:
            return CallbackAnswer(200, None, f"the reply is not a valid passive reply ({type(exc).__name__})")
        if fields.get("ToUserName") != self.openid:
            return CallbackAnswer(200, fields, "the reply is addressed to someone else")
        return CallbackAnswer(200, fields)
