"""The sandbox's cgi-bin/openapi/quota/get: each API's daily limit (wechat-platform.md §10) and what this
sandbox's record holds of today's successful calls of that app to it."""

from __future__ import annotations

from typing import Any

from wxbot import clock
from wxbot.sandbox.rules import SandboxError
from wxbot.sandbox.state import SandboxState
from wxbot.wechat.errors import CGI_PATH_INVALID

WECHAT_ZONE = "Asia/Shanghai"
DAILY_LIMITS = {
    "/cgi-bin/message/template/send": 100_000,
    "/cgi-bin/message/custom/send": 500_000,
    "/cgi-bin/message/subscribe/send": 10_000_000,
    "/cgi-bin/user/info": 5_000_000,
    "/cgi-bin/token": 2_000,
}


def quota_get(state: SandboxState, appid: str, body: dict[str, Any]) -> dict[str, Any]:
    path = body.get("cgi_path")
    if not isinstance(path, str) or not path.startswith("/") or path not in DAILY_LIMITS:
        raise SandboxError(CGI_PATH_INVALID, "invalid cgi_path")
    today = clock.local_day(clock.now(), WECHAT_ZONE)  # WeChat's quotas start again at 00:00 Beijing time
    used = sum(
        1
        for c in state.calls(path)
        if c.appid == appid and c.errcode == 0 and clock.local_day(c.at, WECHAT_ZONE) == today
    )
    limit = DAILY_LIMITS[path]
    return {
        "errcode": 0,
        "errmsg": "ok",
        "quota": {"daily_limit": limit, "used": used, "remain": max(limit - used, 0)},
    }
