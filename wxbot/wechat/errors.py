"""What a WeChat API call can fail with; the rest of the project sees these, never wechatpy's exceptions.

WeChat's errcodes by name (wechat-platform.md §9 lists what each means for us). Every errcode the project
(or the sandbox WeChat) looks at or answers is named here; code compares with the names, never the numbers.
"""

from __future__ import annotations

import re

SYSTEM_BUSY = -1  # 系统繁忙: try again later
TOKEN_INVALID = 40001  # the access_token is invalid or not the latest
GRANT_TYPE_INVALID = 40002
OPENID_UNKNOWN = 40003  # WeChat does not know this openid for this app
LANG_INVALID = 40005
INVALID_MEDIA_SIZE = 40006  # media/upload: the file is too large (or not of its type)
MEDIA_ID_INVALID = 40007
MESSAGE_TYPE_INVALID = 40008
APPID_INVALID = 40013
TOKEN_MALFORMED = 40014  # not an access_token at all
# menu/create's refusals: the menu breaks one of WeChat's limits (wxbot.config.menus checks them first)
MENU_BUTTON_TYPE_INVALID = 40017
MENU_BUTTONS_INVALID = 40016
MENU_NAME_INVALID = 40018
MENU_KEY_INVALID = 40019
MENU_URL_INVALID = 40020
MENU_LEVEL_INVALID = 40022
MENU_SUB_BUTTONS_INVALID = 40023
MENU_SUB_TYPE_INVALID = 40024
MENU_SUB_NAME_INVALID = 40025
MENU_SUB_KEY_INVALID = 40026
MENU_SUB_URL_INVALID = 40027
CODE_INVALID = 40029  # a wx.login / getPhoneNumber code that is wrong or expired
OPENID_LIST_INVALID = 40032  # user/info/batchget with no openid or more than 100
TEMPLATE_ID_INVALID = 40037
ACTION_NAME_INVALID = 40052  # qrcode/create's action_name
ARGS_INVALID = 40097
APPSECRET_INVALID = 40125
CODE_USED = 40163
IP_NOT_WHITELISTED = 40164  # the caller's IP is not on the account's IP whitelist (errmsg names the IP)
ALREADY_SENT = 40241  # template/send: the same message within 60 s; WeChat has it already
TOKEN_MISSING = 41001
WXA_PAGE_INVALID = 41030  # getwxacodeunlimit: the page does not exist or is not published
TOKEN_EXPIRED = 42001
UNFOLLOWED = 43004  # the follower does not follow the official account (template messages)
REFUSED = 43101  # the user has no unused subscribe authorisation (subscribe messages)
CONTENT_EMPTY = 44004
CONTENT_TOO_LONG = 45002
ARTICLES_TOO_MANY = 45008
DAILY_QUOTA = 45009  # the app's daily quota for this API is spent
MINUTE_LIMIT = 45011  # WeChat's per-minute rate limit
WINDOW_CLOSED = 45015  # the customer-service window has closed (or the follower left)
WINDOW_SPENT = 45047  # the customer-service window's message budget is used up
DATA_FORMAT_INVALID = 47001
ARGUMENT_INVALID = 47003
API_UNAUTHORIZED = 48001  # the app may not use this API
MENU_NOT_FOUND = 46003  # menu/get of an account without a menu
NO_DEFAULT_MENU = 65303  # menu/addconditional before menu/create
MATCHRULE_EMPTY = 65304
CGI_PATH_INVALID = 76003  # openapi/quota/get with a cgi_path that is not one of WeChat's
PHONE_QUOTA_EXHAUSTED = 1400001  # getuserphonenumber: the mini program's paid phone quota is used up

TOKEN_ERRORS = frozenset({TOKEN_INVALID, TOKEN_MALFORMED, TOKEN_EXPIRED})


# WeChat ends every error's errmsg with " rid: <id>", the id its support looks the request up by
# (cgi-bin/openapi/rid/get); wechat-platform.md §0.
_RID = re.compile(r"\s*\brid:\s*([0-9A-Za-z-]{1,64})\s*$")


class WeChatError(Exception):
    """WeChat answered with errcode != 0. `message`: errmsg without its rid; `rid`: WeChat's request id."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"wechat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        found = _RID.search(errmsg)
        self.rid = found.group(1) if found else None
        self.message = errmsg[: found.start()] if found else errmsg

    def summary(self, limit: int = 255) -> str:
        """errcode, errmsg cut to fit `limit`, and the rid whole: what the outbox records and logs quote."""
        tail = f" (rid {self.rid})" if self.rid else ""
        return f"{self.errcode} {self.message}"[: max(limit - len(tail), 0)] + tail


class WeChatUnavailable(Exception):
    """No usable answer: network error, timeout, 5xx, or a body that is not WeChat's JSON.

    `unsure`: the request was sent and WeChat may have acted on it (a timeout waiting for the answer, a
    connection lost after sending, an HTTP error or an unreadable answer); False when it never left
    (no connection)."""

    def __init__(self, message: str, *, unsure: bool = False) -> None:
        super().__init__(message)
        self.unsure = unsure
