"""Delivery XML (and a mini program's JSON) in, for untrusted bodies (the reply XML out is wxbot.wechat.replies).

Bodies are checked before any parser sees them: UTF-8, no DOCTYPE, entity or other markup declaration;
then parsed with defusedxml (a second guard) into plain dicts, bounded in depth. Whitespace around a value
(an indented <![CDATA[...]]>, as some senders and SDK fixtures have it) is not part of it: values are stripped
before anything checks them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# The deepest deliveries WeChat documents have values at depth 5: <xml><SendPicsInfo><PicList><item><PicMd5Sum>
# (pic_* menu events), <xml><CopyrightCheckResult><ResultList><item><ArticleIdx> (MASSSENDJOBFINISH),
# <xml><PublishEventInfo><article_detail><item><idx> (PUBLISHJOBFINISH). Anything deeper is refused.
MAX_DEPTH = 5
# "<!" starts a comment, a CDATA section, or a declaration (DOCTYPE, ENTITY, ELEMENT, ...): only the first two pass
_DECLARATION = re.compile(r"<!(?!--|\[CDATA\[)")


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
        return (element.text or "").strip()
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


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON delivery (a mini program's 消息推送 with 数据格式 JSON) as parse_xml gives the XML one: a dict of
    fields whose numbers and booleans are text, nested objects dicts and arrays lists, bounded in depth."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMessage("body is not UTF-8") from exc
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadMessage("malformed JSON") from exc
    if not isinstance(value, dict) or not value:
        raise BadMessage("the body must be a non-empty JSON object")
    fields = _json_value(value, 1)
    assert isinstance(fields, dict)
    return fields


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_value(value: Any, depth: int) -> dict[str, Any] | list[Any] | str:
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise BadMessage("JSON nested too deeply")
        return {str(k): _json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise BadMessage("JSON nested too deeply")
        return [_json_value(v, depth + 1) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # str, int, float: the XML form's text
