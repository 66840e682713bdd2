"""Delivery XML in and reply XML out, for untrusted bodies.

Bodies are checked before any parser sees them: UTF-8, no DOCTYPE, entity or other markup declaration;
then parsed with defusedxml (a second guard) into plain dicts, bounded in depth.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from wxbot.callback.inbound import Inbound
from wxbot.handlers.replies import NewsReply, Reply, TextReply

MAX_DEPTH = 4  # <xml><SubscribeMsgPopupEvent><List><TemplateId> is the deepest WeChat sends
# "<!" starts a comment, a CDATA section, or a declaration (DOCTYPE, ENTITY, ELEMENT, ...): only the first two pass
_DECLARATION = re.compile(r"<!(?!--|\[CDATA\[)")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,20}")
# what the handlers see as columns; the rest of the fields are kept as they came
_ENVELOPE = ("ToUserName", "FromUserName", "Encrypt")


class BadMessage(ValueError):
    """The body is not a delivery we accept; the message is the short reason given to the sender."""


def parse_xml(body: bytes) -> dict[str, Any]:
    """The children of the root <xml> element as a dict (nested elements as dicts, repeated ones as lists)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMessage("body is not UTF-8") from exc
    if _DECLARATION.search(text):
        raise BadMessage("DOCTYPE and entity declarations are not accepted")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadMessage("malformed XML") from exc
    if root.tag != "xml":
        raise BadMessage("root element must be <xml>")
    fields = _children(root, 1)
    if not isinstance(fields, dict):
        raise BadMessage("empty <xml>")
    return fields


def _children(element: Element, depth: int) -> dict[str, Any] | str:
    if len(element) == 0:
        return element.text or ""
    if depth >= MAX_DEPTH:
        raise BadMessage("XML nested too deeply")
    out: dict[str, Any] = {}
    for child in element:
        value = _children(child, depth + 1)
        if child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out


def _text(fields: dict[str, Any], name: str, *, required: bool = False, max_length: int = 1024) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise BadMessage(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise BadMessage(f"{name} must be text")
    if len(value) > max_length:
        raise BadMessage(f"{name} is too long")
    return value


def _matching(fields: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = _text(fields, name)
    if value is not None and not pattern.fullmatch(value):
        raise BadMessage(f"{name} is malformed")
    return value


def _required(fields: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = _matching(fields, name, pattern)
    if value is None:
        raise BadMessage(f"{name} is missing")
    return value


def to_inbound(app_name: str, appid: str, fields: dict[str, Any]) -> Inbound:
    """A parsed (and decrypted) delivery as the handlers see it; BadMessage when a required field is wrong."""
    openid = _required(fields, "FromUserName", _OPENID)
    create_time = _required(fields, "CreateTime", _DIGITS)
    if not 0 < int(create_time) < 2**32:
        raise BadMessage("CreateTime is out of range")
    msg_type = _required(fields, "MsgType", _NAME).lower()
    event = _required(fields, "Event", _NAME).lower() if msg_type == "event" else None
    # the body's size limit bounds Content; an empty text message has none
    content = _text(fields, "Content", max_length=1 << 20) if msg_type == "text" else None
    return Inbound(
        app_name=app_name,
        appid=appid,
        openid=openid,
        msg_type=msg_type,
        event=event,
        event_key=_text(fields, "EventKey") if event else None,
        content=content,
        msg_id=_matching(fields, "MsgId", _DIGITS) if msg_type != "event" else None,
        create_time=int(create_time),
        fields={k: v for k, v in fields.items() if k not in _ENVELOPE},
    )


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside a CDATA section: split it across two
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply(reply: Reply, *, to_openid: str, from_account: str, create_time: int) -> str:
    """The passive-reply XML (wechat-platform.md §3.3)."""
    head = (
        f"<ToUserName>{_cdata(to_openid)}</ToUserName><FromUserName>{_cdata(from_account)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
    )
    if isinstance(reply, TextReply):
        return (
            f"<xml>{head}<MsgType>{_cdata('text')}</MsgType><Content>{_cdata(reply.content)}</Content></xml>"
        )
    if isinstance(reply, NewsReply):
        item = (
            f"<item><Title>{_cdata(reply.title)}</Title><Description>{_cdata(reply.description)}</Description>"
            f"<PicUrl>{_cdata(reply.picurl)}</PicUrl><Url>{_cdata(reply.url)}</Url></item>"
        )
        return f"<xml>{head}<MsgType>{_cdata('news')}</MsgType><ArticleCount>1</ArticleCount><Articles>{item}</Articles></xml>"
    raise TypeError(f"not a reply: {type(reply).__name__}")
