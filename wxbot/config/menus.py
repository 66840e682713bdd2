"""Official-account menus as code: `[[wechat.official.menu]]` checked at load against WeChat's limits and
against the router, and turned into the JSON that menu/create takes (and menu/get answers).

WeChat's limits (wechat-platform.md §12, "Menus"): at most 3 buttons, each at most 5 sub-buttons, one level
of sub-menus; names at most 16 bytes (sub-buttons 60), keys 128 bytes, URLs 1024 bytes. A click key that no
rule answers is refused (the follower would tap and get the default reply); a click rule that no menu
reaches is only a warning (its key may come from elsewhere, or the menu entry is still to come).
Conditional menus (`[[wechat.official.conditional_menu]]`, one per tag) follow the same rules and need the
default menu beside them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from wxbot.config.schema import ConfigError, MenuButton, OfficialAccount, Settings

log = logging.getLogger(__name__)

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
TYPES = ("click", "view", "miniprogram")


def validate_menus(settings: Settings, click_keys: frozenset[str] | None = None) -> list[str]:
    """Check every official account's menu; the warnings (click rules no menu reaches) are returned and
    logged. `click_keys`: the keys the router answers (default: the router create_app() builds)."""
    configured = [(i, oa) for i, oa in enumerate(settings.wechat.official) if oa.menu or oa.conditional_menu]
    if not configured:
        return []
    if click_keys is None:
        from wxbot.handlers import build_router  # the router is code: its rules are the same in every process

        click_keys = build_router().click_keys
    warnings = []
    for i, oa in configured:
        where = f"wechat.official[{i}].menu"
        _check_buttons(settings, oa.menu, where, click_keys)
        tags: set[str] = set()
        for c, conditional in enumerate(oa.conditional_menu):
            at = f"wechat.official[{i}].conditional_menu[{c}]"
            if not oa.menu:
                raise ConfigError(f"{at}: needs the default menu ([[wechat.official.menu]]) beside it")
            if not re.fullmatch(r"[0-9]{1,10}", conditional.tag_id) or conditional.tag_id in tags:
                raise ConfigError(f"{at}.tag_id: a tag's id (digits), once per account")
            tags.add(conditional.tag_id)
            if not conditional.button:
                raise ConfigError(f"{at}.button: missing")
            _check_buttons(settings, conditional.button, f"{at}.button", click_keys)
        unreached = sorted(click_keys - menu_click_keys(oa))
        if unreached:
            warnings.append(
                f"{where}: no menu entry sends the click key(s) {', '.join(unreached)} that rules answer"
            )
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def menu_click_keys(account: OfficialAccount) -> frozenset[str]:
    return frozenset(
        entry.key
        for button in account.menu
        for entry in (button.sub_button or [button])
        if entry.type == "click"
    )


def _bytes(text: str) -> int:
    return len(text.encode())


def _check_buttons(
    settings: Settings, buttons: list[MenuButton], where: str, click_keys: frozenset[str]
) -> None:
    if len(buttons) > MAX_BUTTONS:
        raise ConfigError(f"{where}: at most {MAX_BUTTONS} buttons (WeChat's limit)")
    for j, button in enumerate(buttons):
        at = f"{where}[{j}]"
        if button.sub_button:
            if button.type or button.key or button.url:
                raise ConfigError(f"{at}: a button with sub_button has no type, key or url of its own")
            if len(button.sub_button) > MAX_SUB_BUTTONS:
                raise ConfigError(f"{at}.sub_button: at most {MAX_SUB_BUTTONS} (WeChat's limit)")
            _check_name(button.name, f"{at}.name", MAX_NAME_BYTES)
            for k, sub in enumerate(button.sub_button):
                if sub.sub_button:
                    raise ConfigError(f"{at}.sub_button[{k}].sub_button: WeChat has one level of sub-menus")
                _check_entry(settings, sub, f"{at}.sub_button[{k}]", MAX_SUB_NAME_BYTES, click_keys)
        else:
            _check_entry(settings, button, at, MAX_NAME_BYTES, click_keys)


def _check_name(name: str, key: str, limit: int) -> None:
    if not name.strip():
        raise ConfigError(f"{key}: missing")
    if _bytes(name) > limit:
        raise ConfigError(
            f"{key}: at most {limit} bytes in UTF-8 ({_bytes(name)} given; a Chinese character is 3)"
        )


def _check_entry(
    settings: Settings, entry: MenuButton, at: str, name_limit: int, click_keys: frozenset[str]
) -> None:
    _check_name(entry.name, f"{at}.name", name_limit)
    if entry.type not in TYPES:
        raise ConfigError(f"{at}.type: one of {', '.join(TYPES)} (or sub_button)")
    if entry.type == "click":
        if not entry.key or _bytes(entry.key) > MAX_KEY_BYTES:
            raise ConfigError(f"{at}.key: 1 to {MAX_KEY_BYTES} bytes")
        if entry.key not in click_keys:
            raise ConfigError(f"{at}.key: no rule answers the click key {entry.key!r} (wxbot.handlers)")
    else:
        if not entry.url.startswith(("https://", "http://")) or _bytes(entry.url) > MAX_URL_BYTES:
            raise ConfigError(f"{at}.url: an http(s) URL of at most {MAX_URL_BYTES} bytes")
    if entry.type == "miniprogram":
        if settings.miniprogram(entry.miniprogram) is None:
            raise ConfigError(f"{at}.miniprogram: no [[wechat.miniprogram]] named {entry.miniprogram!r}")
        if not entry.pagepath:
            raise ConfigError(f"{at}.pagepath: missing")


def menu_json(settings: Settings, account: OfficialAccount) -> dict[str, Any]:
    """The body of menu/create for the account's configured menu."""
    return {"button": [_button_json(settings, b) for b in account.menu]}


def conditional_json(settings: Settings, account: OfficialAccount) -> list[dict[str, Any]]:
    """The bodies of menu/addconditional for the account's conditional menus."""
    return [
        {"button": [_button_json(settings, b) for b in c.button], "matchrule": {"tag_id": c.tag_id}}
        for c in account.conditional_menu
    ]


def wanted_menus(settings: Settings, account: OfficialAccount) -> dict[str, Any]:
    """The account's menus as the config has them, in the shape of wechat_menus() for comparing."""
    return {
        "menu": normalised(menu_json(settings, account)) if account.menu else None,
        "conditional": _by_tag(conditional_json(settings, account)),
    }


def wechat_menus(current: dict[str, Any] | None) -> dict[str, Any]:
    """menu/get's answer (None: no menu) reduced to what followers see: the default menu and, per tag, the
    conditional one."""
    if not current:
        return {"menu": None, "conditional": []}
    conditional = current.get("conditionalmenu")
    return {
        "menu": normalised(current.get("menu") or {}),
        "conditional": _by_tag(conditional if isinstance(conditional, list) else []),
    }


def _by_tag(menus: list[Any]) -> list[dict[str, Any]]:
    found = []
    for menu in menus:
        if isinstance(menu, dict):
            rule = menu.get("matchrule")
            rule = rule if isinstance(rule, dict) else {}
            found.append({"tag_id": str(rule.get("tag_id") or ""), **normalised(menu)})
    return sorted(found, key=lambda m: m["tag_id"])


def _button_json(settings: Settings, button: MenuButton) -> dict[str, Any]:
    if button.sub_button:
        return {"name": button.name, "sub_button": [_button_json(settings, s) for s in button.sub_button]}
    out: dict[str, Any] = {"type": button.type, "name": button.name}
    if button.type == "click":
        out["key"] = button.key
    else:
        out["url"] = button.url
    if button.type == "miniprogram":
        mp = settings.miniprogram(button.miniprogram)
        assert mp is not None  # checked at load
        out.update(appid=mp.appid, pagepath=button.pagepath)
    return out


def normalised(menu: dict[str, Any]) -> dict[str, Any]:
    """A menu as menu/create takes it or as menu/get answers it (which adds empty sub_button lists and a
    menuid), reduced to what a follower sees, for comparing the two."""

    def entry(button: dict[str, Any]) -> dict[str, Any]:
        subs = button.get("sub_button")
        if isinstance(subs, dict):  # get_current_selfmenu_info's shape: {"list": [...]}
            subs = subs.get("list")
        if subs:
            return {"name": button.get("name"), "sub_button": [entry(s) for s in subs if isinstance(s, dict)]}
        kept = ("type", "name", "key", "url", "appid", "pagepath")
        return {k: button[k] for k in kept if button.get(k) not in (None, "")}

    buttons = menu.get("button")
    return {"button": [entry(b) for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []}
