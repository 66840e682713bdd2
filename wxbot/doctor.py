"""`wxbot doctor`: whether each configured app is set up right in WeChat, checked without side effects (only
reads: the token wxbot would use anyway, menu/get, the template list, quotas, and wxbot's own tables).

Per official account: the token (40164 names this server's address for the IP whitelist), the permissions
the reads reveal (48001 per capability), every configured template id in get_all_private_template with the
keywords the config fills, WeChat's menu against the config, the last delivery to the callback URL, each
API's daily quota left (openapi/quota/get), and the sends' view of the app's health (app_health). Mini
programs: the token and health.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from wxbot import clock
from wxbot.config import Settings
from wxbot.config.menus import wanted_menus, wechat_menus
from wxbot.config.schema import OfficialAccount
from wxbot.db import session_scope
from wxbot.models.inbound import InboundMessage
from wxbot.push.app_health import app_health
from wxbot.wechat import official
from wxbot.wechat.api import WeChatApi
from wxbot.wechat.errors import (
    API_UNAUTHORIZED,
    APPID_INVALID,
    APPSECRET_INVALID,
    IP_NOT_WHITELISTED,
    TOKEN_INVALID,
    WeChatError,
    WeChatUnavailable,
)

OK, WARN, FAIL = "ok", "warn", "FAIL"
# The APIs wxbot calls on an official account, whose daily quota the doctor reads.
QUOTA_PATHS = (
    "/cgi-bin/message/template/send",
    "/cgi-bin/message/custom/send",
    "/cgi-bin/user/info",
    "/cgi-bin/user/info/batchget",
    "/cgi-bin/user/get",
    "/cgi-bin/qrcode/create",
    "/cgi-bin/media/get",
)
LOW_QUOTA = 0.1  # less than this share of a daily quota left: a warning

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    app_name: str
    check: str
    status: str  # ok | warn | FAIL
    detail: str


class _Refused(Exception):
    """A read failed; the finding says how."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.detail)
        self.finding = finding


def examine(settings: Settings, api: WeChatApi, session_factory: sessionmaker[Session]) -> list[Finding]:
    """The findings for every configured app, in the order of the config. wxbot's tables are read in short
    transactions of their own, none open while WeChat is asked."""
    with session_scope(session_factory) as session:
        health = {h.app_name: h for h in app_health(session, settings)}
        stmt = select(InboundMessage.app_name, func.max(InboundMessage.received_at))
        delivered: dict[str, datetime] = {
            app: at for app, at in session.execute(stmt.group_by(InboundMessage.app_name))
        }
    found: list[Finding] = []
    for account in settings.wechat.official:
        found += _official(settings, api, delivered.get(account.name), account)
        found.append(_health(settings, account.name, health))
    for mp in settings.wechat.miniprogram:
        found.append(_token(api, mp.name, mp.appid))
        found.append(_health(settings, mp.name, health))
    return found


def _official(
    settings: Settings, api: WeChatApi, last: datetime | None, account: OfficialAccount
) -> list[Finding]:
    name = account.name
    token = _token(api, name, account.appid)
    found = [token]
    if token.status == FAIL:
        return [*found, Finding(name, "WeChat", WARN, "not asked: no access token")]

    def read(check: str, capability: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except WeChatError as exc:
            if exc.errcode == API_UNAUTHORIZED:
                raise _Refused(Finding(name, f"permission: {capability}", FAIL,
                                       f"48001: this account may not use {capability} (a verified 服务号 may)")) from exc  # fmt: skip
            raise _Refused(Finding(name, check, FAIL, _wechat_text(exc))) from exc
        except WeChatUnavailable as exc:
            raise _Refused(Finding(name, check, FAIL, f"WeChat unavailable: {exc}")) from exc

    try:
        templates = read("templates", "template messages", lambda: official.private_templates(api, name))
        found.append(Finding(name, "permission: template messages", OK, "get_all_private_template answered"))
        found += _templates(settings, name, templates)
    except _Refused as refused:
        found.append(refused.finding)
    try:
        current = read("menu", "menus", lambda: official.get_menu(api, name))
        found.append(Finding(name, "permission: menus", OK, "menu/get answered"))
        found.append(_menu(settings, account, current))
    except _Refused as refused:
        found.append(refused.finding)
    found.append(_last_delivery(settings, name, last))
    for path in QUOTA_PATHS:
        short = path.removeprefix("/cgi-bin/")
        try:
            quota = read(f"quota: {short}", short, functools.partial(api.quota, name, path))
        except _Refused as refused:
            found.append(refused.finding)
            continue
        limit, remain = quota["daily_limit"], quota["remain"]
        status = FAIL if remain <= 0 else WARN if limit and remain < limit * LOW_QUOTA else OK
        found.append(Finding(name, f"quota: {short}", status, f"{remain} of {limit} left today"))
    return found


def _token(api: WeChatApi, name: str, appid: str) -> Finding:
    try:
        api.tokens.get(appid)
    except WeChatError as exc:
        if exc.errcode == IP_NOT_WHITELISTED:
            address = official.refused_ip(exc) or "this server's address"
            return Finding(name, "token", FAIL, f"40164: add {address} (this server's egress IP) to the account's IP "
                                                "whitelist (公众平台: 设置与开发 → 基本配置 → IP白名单)")  # fmt: skip
        if exc.errcode in (APPSECRET_INVALID, APPID_INVALID, TOKEN_INVALID):
            return Finding(
                name,
                "token",
                FAIL,
                f"{exc.errcode}: check appid and appsecret against 公众平台 ({exc.errmsg})",
            )
        return Finding(name, "token", FAIL, _wechat_text(exc))
    except WeChatUnavailable as exc:
        return Finding(name, "token", FAIL, f"WeChat unavailable: {exc}")
    return Finding(name, "token", OK, "access token fetched")


def _templates(settings: Settings, name: str, templates: list[dict[str, Any]]) -> list[Finding]:
    by_id = {t.get("template_id"): t for t in templates}
    found = []
    for key, per_app in sorted(settings.notify.templates.items()):
        template = per_app.get(name)
        if template is None:
            continue
        check = f"template: {key}"
        listed = by_id.get(template.template_id)
        if listed is None:
            found.append(
                Finding(name, check, FAIL, f"{template.template_id} is not among the account's templates")
            )
            continue
        keywords = official.template_keywords(str(listed.get("content", "")))
        unknown = sorted(set(template.fields) - keywords)
        if unknown:
            found.append(Finding(name, check, FAIL, f"fields {', '.join(unknown)} are not keywords of "
                                                    f"{template.template_id} ({', '.join(sorted(keywords))})"))  # fmt: skip
            continue
        unfilled = sorted(keywords - set(template.fields))
        if unfilled:
            found.append(
                Finding(
                    name,
                    check,
                    WARN,
                    f"keywords {', '.join(unfilled)} of {template.template_id} are left empty",
                )
            )
            continue
        found.append(Finding(name, check, OK, f"{template.template_id}: keywords match"))
    return found


def _menu(settings: Settings, account: OfficialAccount, current: dict[str, Any] | None) -> Finding:
    if not account.menu:
        return Finding(account.name, "menu", WARN, "no [[wechat.official.menu]] configured: with the server URL "
                                                   "enabled, followers see no menu but one set through the API")  # fmt: skip
    if current is None:
        return Finding(account.name, "menu", FAIL, "WeChat has no menu: run `wxbot menu sync`")
    if wechat_menus(current) != wanted_menus(settings, account):
        return Finding(account.name, "menu", FAIL, "WeChat's menu differs from the config: `wxbot menu diff`")
    return Finding(account.name, "menu", OK, "as configured")


def _last_delivery(settings: Settings, name: str, last: datetime | None) -> Finding:
    if last is None:
        return Finding(name, "callback", WARN, "no delivery received yet (or none kept): is the server URL /wechat/"
                                               f"{name} set and enabled in 公众平台?")  # fmt: skip
    hours = (clock.now() - last).total_seconds() / 3600
    when = clock.local_text(last, settings.app.timezone)
    return Finding(name, "callback", OK, f"last delivery {when} ({hours:.1f} h ago)")


def _health(settings: Settings, name: str, health: dict[str, Any]) -> Finding:
    h = health.get(name)
    if h is None or h.healthy:
        failures = (
            f"; {h.token_failures} token error(s) in a row" if h is not None and h.token_failures else ""
        )
        return Finding(name, "health", OK, f"sends go out{failures}")
    since = clock.local_text(h.unhealthy_since, settings.app.timezone)
    return Finding(name, "health", FAIL, f"unhealthy since {since}: {h.token_failures} sends refused with token "
                                         f"error {h.errcode} after a refresh (`wxbot apps health`)")  # fmt: skip


def _wechat_text(exc: WeChatError) -> str:
    return f"{exc.errcode}: {exc.errmsg}"


def table(findings: list[Finding]) -> str:
    """The findings as an aligned text table."""
    rows = [("app", "check", "status", "detail")] + [
        (f.app_name, f.check, f.status, f.detail) for f in findings
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join([*(r[i].ljust(widths[i]) for i in range(3)), r[3]]).rstrip() for r in rows)
