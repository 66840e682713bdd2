"""The sandbox WeChat's account-management APIs of an official account: the menu (menu/create, get,
addconditional, delete), the follower list (user/get, user/info/batchget), the account's templates
(template/get_all_private_template) and its quotas (openapi/quota/get), with WeChat's checks and errcodes.

Their memory is OfficialState (SandboxState.official, emptied with it); the followers are SandboxState's
plus, for back-fill tests and benchmarks, any number of silent ones added in bulk (kept compact: an openid
and a unionid each, not a whole sandbox follower).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from wxbot import clock
from wxbot.sandbox.rules import SandboxError
from wxbot.wechat import errors

if TYPE_CHECKING:
    from wxbot.sandbox.state import SandboxState

USER_GET_PAGE = 10_000
BATCHGET_MAX = 100
CHINA = timedelta(hours=8)  # WeChat's daily quotas start at 00:00 Beijing time
# Daily limits of the APIs wxbot uses (wechat-platform.md §10), as openapi/quota/get reports them.
DAILY_LIMITS = {
    "/cgi-bin/token": 2000,
    "/cgi-bin/stable_token": 500_000,
    "/cgi-bin/message/custom/send": 500_000,
    "/cgi-bin/message/template/send": 100_000,
    "/cgi-bin/message/subscribe/send": 10_000_000,
    "/cgi-bin/user/info": 5_000_000,
    "/cgi-bin/user/info/batchget": 5_000_000,
    "/cgi-bin/user/get": 500,
    "/cgi-bin/qrcode/create": 100_000,
    "/cgi-bin/media/get": 100_000,
    "/cgi-bin/menu/create": 1000,
    "/cgi-bin/menu/get": 10_000,
    "/cgi-bin/template/get_all_private_template": 10_000,
}
_TYPES_WITH_KEY = frozenset({"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
                             "pic_weixin", "location_select"})  # fmt: skip
_TYPES_WITH_URL = frozenset({"view", "miniprogram"})

Endpoint = Callable[..., Callable[[Any], Any]]


class OfficialState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._menus: dict[str, dict[str, Any]] = {}
        self._conditional: dict[str, list[dict[str, Any]]] = {}
        self._next_menuid = 1000
        self._silent: dict[str, dict[str, str | None]] = {}  # appid -> openid -> unionid (ordered)
        self._templates: dict[str, list[dict[str, Any]]] = {}
        self._used: dict[tuple[str, str], int] = {}  # calls counted beside the recorded ones (tests)

    # ------------------------------------------------------------ set-up

    def add_silent_followers(
        self, appid: str, count: int, *, unionids: bool = True, prefix: str = "oSILENT"
    ) -> list[str]:
        """`count` followers who never wrote (openids `prefix` + a number); they show in user/get only."""
        with self._lock:
            followers = self._silent.setdefault(appid, {})
            start = len(followers)
            added = [f"{prefix}{n:012d}" for n in range(start, start + count)]
            for openid in added:
                followers[openid] = f"uSILENT{openid[len(prefix) :]}" if unionids else None
            return added

    def add_template(self, appid: str, template_id: str, keywords: list[str], title: str = "模板") -> None:
        content = "".join(f"{k}:{{{{{k}.DATA}}}}\n" for k in keywords)
        with self._lock:
            self._templates.setdefault(appid, []).append(
                {
                    "template_id": template_id,
                    "title": title,
                    "primary_industry": "IT科技",
                    "deputy_industry": "互联网|电子商务",
                    "content": content,
                    "example": "",
                }  # fmt: skip
            )

    def reset_templates(self, appid: str) -> None:
        with self._lock:
            self._templates.pop(appid, None)

    def use_quota(self, appid: str, cgi_path: str, calls: int) -> None:
        """Count `calls` more to `cgi_path` today (as if made elsewhere, e.g. in WeChat's console)."""
        with self._lock:
            self._used[(appid, cgi_path)] = self._used.get((appid, cgi_path), 0) + calls

    def set_menu(self, appid: str, menu: dict[str, Any]) -> None:
        check_menu(menu)
        with self._lock:
            self._menus[appid] = _stored(menu)

    # ------------------------------------------------------------ what WeChat shows

    def menu(self, appid: str) -> dict[str, Any] | None:
        """The default menu as a follower's client shows it, or None."""
        with self._lock:
            return self._menus.get(appid)

    # ------------------------------------------------------------ the endpoints' rules

    def create_menu(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        self.set_menu(appid, body)
        return {"errcode": 0, "errmsg": "ok"}

    def get_menu(self, appid: str) -> dict[str, Any]:
        with self._lock:
            menu = self._menus.get(appid)
            if menu is None:
                raise SandboxError(errors.MENU_NOT_FOUND, "menu no exist")
            answer: dict[str, Any] = {"menu": _as_got(menu)}
            if self._conditional.get(appid):
                answer["conditionalmenu"] = [_as_got(m) for m in self._conditional[appid]]
            return answer

    def add_conditional(self, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        rule = body.get("matchrule")
        if not isinstance(rule, dict) or not any(
            rule.get(k) for k in ("tag_id", "client_platform_type", "language")
        ):
            raise SandboxError(errors.MATCHRULE_EMPTY, "match rule empty")
        check_menu(body)
        with self._lock:
            if appid not in self._menus:
                raise SandboxError(errors.NO_DEFAULT_MENU, "no default menu, can not create conditional menu")
            self._next_menuid += 1
            menuid = str(self._next_menuid)
            stored = {**_stored(body), "matchrule": dict(rule), "menuid": menuid}
            self._conditional.setdefault(appid, []).append(stored)
        return {"menuid": menuid}

    def delete_menu(self, appid: str) -> dict[str, Any]:
        """menu/delete removes the default menu and every conditional one."""
        with self._lock:
            self._menus.pop(appid, None)
            self._conditional.pop(appid, None)
        return {"errcode": 0, "errmsg": "ok"}

    def user_get(self, state: SandboxState, appid: str, next_openid: str) -> dict[str, Any]:
        everyone = self._followers(state, appid)  # (openid, follows), those who left kept as places to resume
        start = 0
        if next_openid:
            start = next((i + 1 for i, (openid, _) in enumerate(everyone) if openid == next_openid), -1)
            if start < 0:
                raise SandboxError(errors.OPENID_UNKNOWN, "invalid next_openid")
        page = [openid for openid, follows in everyone[start:] if follows][:USER_GET_PAGE]
        answer: dict[str, Any] = {"total": sum(1 for _, follows in everyone if follows), "count": len(page)}
        if page:
            answer["data"] = {"openid": page}
        answer["next_openid"] = page[-1] if page else ""
        return answer

    def batchget(self, state: SandboxState, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        users = body.get("user_list")
        if not isinstance(users, list) or not 1 <= len(users) <= BATCHGET_MAX:
            raise SandboxError(errors.OPENID_LIST_INVALID, f"invalid openid list size: 1 to {BATCHGET_MAX}")
        infos = []
        for user in users:
            openid = user.get("openid") if isinstance(user, dict) else None
            if not isinstance(openid, str) or not openid:
                raise SandboxError(errors.OPENID_UNKNOWN, "invalid openid")
            with self._lock:
                silent = self._silent.get(appid, {})
                known = openid in silent
                unionid = silent.get(openid)
            if known:
                info: dict[str, Any] = {"subscribe": 1, "openid": openid, "language": "zh_CN",
                                        "subscribe_time": 1_600_000_000, "remark": "", "groupid": 0,
                                        "tagid_list": [], "subscribe_scene": "ADD_SCENE_OTHERS", "qr_scene": 0,
                                        "qr_scene_str": ""}  # fmt: skip
                if unionid:
                    info["unionid"] = unionid
            else:
                info = state.user_info(appid, openid)  # 40003 for an openid WeChat does not know
            infos.append(info)
        return {"user_info_list": infos}

    def private_templates(self, appid: str) -> dict[str, Any]:
        with self._lock:
            return {"template_list": [dict(t) for t in self._templates.get(appid, [])]}

    def quota(self, state: SandboxState, appid: str, body: dict[str, Any]) -> dict[str, Any]:
        path = body.get("cgi_path")
        if not isinstance(path, str) or not path.startswith("/") or path not in DAILY_LIMITS:
            raise SandboxError(errors.CGI_PATH_INVALID, "invalid cgi_path")
        # today in Beijing, as naive UTC
        day_start = (clock.now() + CHINA).replace(hour=0, minute=0, second=0, microsecond=0) - CHINA
        made = sum(1 for c in state.calls(path) if c.appid == appid and c.at >= day_start and c.errcode == 0)
        with self._lock:
            used = made + self._used.get((appid, path), 0)
        limit = DAILY_LIMITS[path]
        return {"errcode": 0, "errmsg": "ok",
                "quota": {"daily_limit": limit, "used": used, "remain": max(limit - used, 0)}}  # fmt: skip

    def _followers(self, state: SandboxState, appid: str) -> list[tuple[str, bool]]:
        with self._lock:
            silent = [(openid, True) for openid in self._silent.get(appid, {})]
        return silent + state.openids(appid)


def check_menu(menu: Any) -> None:
    """WeChat's checks of a menu/create (or addconditional) body."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise SandboxError(errors.MENU_BUTTONS_INVALID, "invalid button size")
    for button in buttons:
        if not isinstance(button, dict):
            raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error")
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise SandboxError(errors.MENU_SUB_BUTTONS_INVALID, "invalid sub button size")
            _check_name(button, 16, errors.MENU_NAME_INVALID)
            for sub in subs:
                if not isinstance(sub, dict):
                    raise SandboxError(errors.DATA_FORMAT_INVALID, "data format error")
                if sub.get("sub_button"):
                    raise SandboxError(errors.MENU_LEVEL_INVALID, "invalid sub menu level")
                _check_entry(sub, sub=True)
        else:
            _check_entry(button, sub=False)


def _check_name(button: dict[str, Any], limit: int, errcode: int) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > limit:
        raise SandboxError(errcode, "invalid button name size")


def _check_entry(button: dict[str, Any], *, sub: bool) -> None:
    _check_name(button, 60 if sub else 16, errors.MENU_SUB_NAME_INVALID if sub else errors.MENU_NAME_INVALID)
    kind = button.get("type")
    if kind not in _TYPES_WITH_KEY | _TYPES_WITH_URL:
        raise SandboxError(errors.MENU_SUB_TYPE_INVALID if sub else errors.MENU_BUTTON_TYPE_INVALID,
                           "invalid button type")  # fmt: skip
    if kind in _TYPES_WITH_KEY:
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > 128:
            raise SandboxError(errors.MENU_SUB_KEY_INVALID if sub else errors.MENU_KEY_INVALID,
                               "invalid button key size")  # fmt: skip
    else:
        url = button.get("url")
        if (
            not isinstance(url, str)
            or not url.startswith(("http://", "https://"))
            or len(url.encode()) > 1024
        ):
            raise SandboxError(errors.MENU_SUB_URL_INVALID if sub else errors.MENU_URL_INVALID,
                               "invalid button url size")  # fmt: skip
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        raise SandboxError(errors.APPID_INVALID, "invalid appid or pagepath")


def _stored(menu: dict[str, Any]) -> dict[str, Any]:
    return {
        "button": [dict(b, sub_button=[dict(s) for s in b.get("sub_button") or []]) for b in menu["button"]]
    }


def _as_got(menu: dict[str, Any]) -> dict[str, Any]:
    """A stored menu as menu/get answers it: every button with a sub_button list (empty for leaves)."""
    out = {
        "button": [
            dict(b, sub_button=[dict(s, sub_button=[]) for s in b["sub_button"]]) for b in menu["button"]
        ]
    }
    for key in ("matchrule", "menuid"):
        if key in menu:
            out[key] = menu[key]
    return out


def register(endpoint: Endpoint, state: SandboxState) -> None:
    """Add these endpoints to the sandbox API app (wxbot.sandbox.api's `endpoint`). Each call works on the
    state's current OfficialState (a reset replaces it)."""

    def official(appid: str) -> OfficialState:
        if not any(a.appid == appid and a.kind == "official" for a in state.apps()):
            raise SandboxError(errors.API_UNAUTHORIZED, "api unauthorized")
        return state.official

    routes: list[tuple[str, str, Callable[[str, dict[str, str], Any], dict[str, Any]]]] = [
        ("/cgi-bin/menu/create", "POST", lambda appid, _p, body: official(appid).create_menu(appid, body)),
        ("/cgi-bin/menu/get", "GET", lambda appid, _p, _b: official(appid).get_menu(appid)),
        ("/cgi-bin/menu/addconditional", "POST",
         lambda appid, _p, body: official(appid).add_conditional(appid, body)),
        ("/cgi-bin/menu/delete", "GET", lambda appid, _p, _b: official(appid).delete_menu(appid)),
        ("/cgi-bin/user/get", "GET",
         lambda appid, params, _b: official(appid).user_get(state, appid, params.get("next_openid", ""))),
        ("/cgi-bin/user/info/batchget", "POST", lambda appid, _p, body: official(appid).batchget(state, appid, body)),
        ("/cgi-bin/template/get_all_private_template", "GET",
         lambda appid, _p, _b: official(appid).private_templates(appid)),
        ("/cgi-bin/openapi/quota/get", "POST", lambda appid, _p, body: state.official.quota(state, appid, body)),
    ]  # fmt: skip
    for path, method, work in routes:
        endpoint(path, [method])(work)
