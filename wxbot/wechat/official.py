"""An official account's account-management APIs: its menu, its follower list, its templates, its quotas
(wechat-platform.md §8, §10, §12). Calls go through WeChatApi.call (the shared token, its refresh); WeChat's
refusals come as WeChatError, a missing answer as WeChatUnavailable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wxbot.wechat.api import WeChatApi
from wxbot.wechat.errors import MENU_NOT_FOUND, WeChatError, WeChatUnavailable

BATCHGET_MAX = 100  # user/info/batchget takes at most this many openids
_IP = re.compile(r"invalid ip ([0-9a-fA-F.:]+)")


def create_menu(api: WeChatApi, oa_name: str, menu: dict[str, Any]) -> None:
    api.call(oa_name, "official", "POST", "/cgi-bin/menu/create", body=menu)


def add_conditional_menu(api: WeChatApi, oa_name: str, menu: dict[str, Any]) -> str:
    answer = api.call(oa_name, "official", "POST", "/cgi-bin/menu/addconditional", body=menu)
    return str(answer.get("menuid", ""))


def delete_menu(api: WeChatApi, oa_name: str) -> None:
    """The default menu and every conditional one."""
    api.call(oa_name, "official", "GET", "/cgi-bin/menu/delete")


def get_menu(api: WeChatApi, oa_name: str) -> dict[str, Any] | None:
    """menu/get's answer ({"menu": {...}, "conditionalmenu": [...]}), or None when the account has no menu."""
    try:
        return api.call(oa_name, "official", "GET", "/cgi-bin/menu/get")
    except WeChatError as exc:
        if exc.errcode == MENU_NOT_FOUND:
            return None
        raise


@dataclass(frozen=True)
class FollowerPage:
    total: int
    openids: list[str]
    next_openid: str  # "" or the last openid of this page: where the next page starts


def followers(api: WeChatApi, oa_name: str, next_openid: str = "") -> FollowerPage:
    """One page of user/get (up to 10,000 openids). The last page may still name a next_openid and then
    come back empty (wechat-platform.md §8): an empty page ends the list."""
    params = {"next_openid": next_openid} if next_openid else {}
    answer = api.call(oa_name, "official", "GET", "/cgi-bin/user/get", params=params)
    data = answer.get("data")
    openids = data.get("openid") if isinstance(data, dict) else None
    if openids is None:
        openids = []
    if not isinstance(openids, list) or not all(isinstance(o, str) for o in openids):
        raise WeChatUnavailable("user/get answer: data.openid is not a list of openids")
    total = answer.get("total")
    following = answer.get("next_openid")
    return FollowerPage(
        total=total if isinstance(total, int) else 0,
        openids=openids,
        next_openid=following if isinstance(following, str) and openids else "",
    )


def users_info(api: WeChatApi, oa_name: str, openids: list[str]) -> list[dict[str, Any]]:
    """user/info/batchget for up to 100 openids: each follower's subscribe, unionid, subscribe_time..."""
    if not 1 <= len(openids) <= BATCHGET_MAX:
        raise ValueError(f"user/info/batchget takes 1 to {BATCHGET_MAX} openids")
    body = {"user_list": [{"openid": o, "lang": "zh_CN"} for o in openids]}
    answer = api.call(oa_name, "official", "POST", "/cgi-bin/user/info/batchget", body=body)
    infos = answer.get("user_info_list")
    if not isinstance(infos, list):
        raise WeChatUnavailable("user/info/batchget answer lacks user_info_list")
    return [i for i in infos if isinstance(i, dict)]


def private_templates(api: WeChatApi, oa_name: str) -> list[dict[str, Any]]:
    """The account's template messages (template_id, title, content with {{key.DATA}} placeholders)."""
    answer = api.call(oa_name, "official", "GET", "/cgi-bin/template/get_all_private_template")
    found = answer.get("template_list")
    return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else []


def template_keywords(content: str) -> set[str]:
    """The field keys a template's content names: "{{thing1.DATA}}" -> thing1."""
    return set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\}", content))


def refused_ip(error: WeChatError) -> str | None:
    """The caller's address WeChat names in a 40164 ("invalid ip 1.2.3.4 ipv6 ..., not in whitelist")."""
    found = _IP.search(error.errmsg)
    return found.group(1) if found else None
