"""The passive replies to a delivery (text, or one article card) and the XML they become.

A reply is stored with the message it answers (as a dict), so a retried delivery gets the same one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TextReply:
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", **asdict(self)}


@dataclass(frozen=True)
class NewsReply:
    """One article card (WeChat shows only one in answer to a user's message)."""

    title: str
    description: str
    url: str
    picurl: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "news", **asdict(self)}


Reply = TextReply | NewsReply


def reply_from_dict(data: dict[str, Any]) -> Reply:
    kind = data.get("type")
    values = {k: v for k, v in data.items() if k != "type"}
    if kind == "text":
        return TextReply(**values)
    if kind == "news":
        return NewsReply(**values)
    raise ValueError(f"unknown reply type {kind!r}")


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside a CDATA section: split it across two
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply_xml(reply: Reply, *, to_openid: str, from_account: str, create_time: int) -> str:
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
