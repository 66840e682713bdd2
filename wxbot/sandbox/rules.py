"""WeChat's checks on template and subscribe message data (wechat-platform.md §6.2, §7.4)."""

from __future__ import annotations

import re
from typing import Any

from wxbot.wechat.errors import ARGUMENT_INVALID


class SandboxError(Exception):
    """WeChat's answer {"errcode": N, "errmsg": ...} to a call the sandbox refuses."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


TEMPLATE_FIELD_CHARS = 20  # since 2023-05-04 longer template values are cut, silently
MAX_DATA_KEYS = 20

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_TIME = r"[0-9０-９年月日时分秒:：/\-. 号点上午下]+"
# A value per type of a subscribe template keyword (the keyword's name is the type plus a number: thing1).
_SUBSCRIBE_TYPES: dict[str, re.Pattern[str]] = {
    "thing": re.compile(r".{1,20}", re.S),
    "number": re.compile(r"[0-9.]{1,32}"),
    "letter": re.compile(r"[A-Za-z]{1,32}"),
    "symbol": re.compile(r"[^A-Za-z0-9\s" + _CJK + r"]{1,5}"),
    "character_string": re.compile(r"[\x21-\x7e]{1,32}"),
    "time": re.compile(rf"{_TIME}(~{_TIME})?"),
    "date": re.compile(rf"{_TIME}(~{_TIME})?"),
    "amount": re.compile(r"[¥￥$]?[0-9]{1,10}(\.[0-9]{1,2})?元?"),
    "phone_number": re.compile(r"[0-9+\- ]{1,17}"),
    "car_number": re.compile(r".{1,8}", re.S),
    "name": re.compile(rf"[{_CJK}·]{{1,10}}|[A-Za-z .]{{1,20}}"),
    "phrase": re.compile(rf"[{_CJK}]{{1,5}}"),
}
_KEY = re.compile(r"([a-z_]+?)(\d+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# what WeChat drops from template values since 2023-05-04: emoji and pictographs
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3]")


def _values(data: Any) -> list[tuple[str, str]]:
    """(key, value) pairs of {"key": {"value": "..."}}; 47003 for any other shape."""
    if not isinstance(data, dict) or not data or len(data) > MAX_DATA_KEYS:
        raise SandboxError(ARGUMENT_INVALID, "argument invalid! data is not a non-empty object")
    pairs = []
    for key, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise SandboxError(ARGUMENT_INVALID, f"argument invalid! data.{key}.value is not a string")
        pairs.append((str(key), item["value"]))
    return pairs


def check_template_data(data: Any) -> None:
    """Official-account template data: the shape is checked; long values are cut on delivery, not refused."""
    _values(data)


def delivered_template_data(data: dict[str, Any]) -> dict[str, Any]:
    """What the follower sees since 2023-05-04: no first line, no remark, no colour, no emoji; each value on
    one line, at most 20 characters."""
    return {
        key: {"value": _CONTROL.sub("", _EMOJI.sub("", item["value"]))[:TEMPLATE_FIELD_CHARS]}
        for key, item in data.items()
        if key not in ("first", "remark")
    }


def check_subscribe_data(data: Any) -> None:
    """Mini-program subscribe data: every value must fit the type its keyword name declares."""
    for key, value in _values(data):
        match = _KEY.fullmatch(key)
        kind = match.group(1) if match else ""
        rule = _SUBSCRIBE_TYPES.get(kind)
        if rule is None:
            raise SandboxError(
                ARGUMENT_INVALID, f"argument invalid! data.{key} is not a keyword of this template"
            )
        if not value or _CONTROL.search(value) or not rule.fullmatch(value):
            raise SandboxError(ARGUMENT_INVALID, f"argument invalid! data.{key}.value invalid for {kind}")
