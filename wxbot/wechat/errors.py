"""What a WeChat API call can fail with; the rest of the project sees these, never wechatpy's exceptions."""

from __future__ import annotations

TOKEN_ERRORS = frozenset({40001, 40014, 42001})


class WeChatError(Exception):
    """WeChat answered with errcode != 0."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"wechat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(Exception):
    """No usable answer: network error, timeout, 5xx, or a body that is not WeChat's JSON."""
