"""The sandbox inside the main app (`[sandbox] enabled`, the laptop setup; never in production).

- `/sandbox/wechat/...`: the sandbox WeChat API; `[wechat] api_base_url` points there.
- `/sandbox/`: the follower page. A person acts as a follower of an official account: follow, unfollow, send
  text, click the menu, scan a QR code the bot created; the page delivers each as WeChat would (signed, and
  encrypted when the account has an EncodingAESKey) to the bot's `/wechat/<name>`, and shows the passive
  replies and every message WeChat delivered to that follower.

The page has no CSRF protection and no login: acceptable only because it drives a simulated WeChat on a
developer's machine. mount_sandbox() refuses to run unless the sandbox is enabled.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from wxbot.config.menus import menu_json
from wxbot.config.schema import SANDBOX_API_PATH, OfficialAccount
from wxbot.sandbox.api import create_sandbox_app
from wxbot.sandbox.callbacks import CallbackAnswer, CallbackSender
from wxbot.sandbox.state import ChatLine, Delivered, SandboxState
from wxbot.services import Services
from wxbot.web import services as current_services

log = logging.getLogger(__name__)

MAX_TEXT = 600  # what the page lets a person type; WeChat's own limit is larger
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
_DELIVERED_KINDS = {"custom": "customer-service message", "template": "template message",
                    "subscribe": "subscribe message", "notice": "subscription notice (订阅通知)"}  # fmt: skip

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def mount_sandbox(app: Flask, services: Services) -> SandboxState:
    settings = services.settings
    if not settings.sandbox.enabled:
        raise RuntimeError("the sandbox WeChat is mounted only with [sandbox] enabled = true")
    state = SandboxState()
    for oa in settings.wechat.official:
        state.add_app(oa.appid, oa.appsecret, "official")
    for mp in settings.wechat.miniprogram:
        state.add_app(mp.appid, mp.appsecret, "miniprogram")
        state.wxacodes.publish(mp.appid, settings.events.code_page)  # the demo's event page is released
    for oa in settings.wechat.official:
        if oa.menu:  # as if `wxbot menu sync` had run: the follower page shows the configured menu at once
            state.official.set_menu(oa.appid, menu_json(settings, oa))
    for per_app in settings.notify.templates.values():  # the account's templates are the configured ones
        for app_name, template in per_app.items():
            account = settings.official_account(app_name)
            if account is not None:
                state.official.add_template(account.appid, template.template_id, sorted(template.fields))
    state.base_url = settings.sandbox.public_url.rstrip("/") + SANDBOX_API_PATH
    services.sandbox = state
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {SANDBOX_API_PATH: create_sandbox_app(state)})  # type: ignore[method-assign]
    app.register_blueprint(bp)
    from wxbot.sandbox.mp_web import bp as mp_bp  # the mini-program user (it uses this module's helpers)

    app.register_blueprint(mp_bp)
    log.warning("sandbox WeChat mounted at /sandbox: a development tool, never enable it in production")
    return state


def _state() -> SandboxState:
    state = current_services().sandbox
    assert state is not None  # mounted only with the sandbox
    return state


def _account(name: str | None) -> OfficialAccount:
    settings = current_services().settings
    account = settings.official_account(name) if name else next(iter(settings.wechat.official), None)
    if account is None:
        abort(404, "no such official account")
    return account


def _openid(value: str | None) -> str:
    if value is None or not _OPENID.fullmatch(value):
        abort(400, "openid: 1-64 letters, digits, - or _")
    return value


def _menu(state: SandboxState, appid: str) -> list[dict[str, Any]]:
    """The buttons of the menu WeChat has for the account (menu/create), as its client shows them."""
    menu = state.official.menu(appid)
    return list(menu["button"]) if menu else []


def _menu_entry(state: SandboxState, appid: str, kind: str, value: str) -> dict[str, Any] | None:
    """The entry of that menu a tap names: a click entry by key, a view entry by url."""
    field = "key" if kind == "click" else "url"
    for button in _menu(state, appid):
        for entry in button.get("sub_button") or [button]:
            if entry.get("type") == kind and entry.get(field) == value:
                return entry
    return None


@bp.get("/")
def follower_page() -> Any:
    account = _account(request.args.get("app"))
    if "openid" not in request.args:
        # A new person: an openid shaped like WeChat's (28 characters starting with o).
        openid = "o" + secrets.token_urlsafe(21)[:27].replace("-", "A").replace("_", "B")
        return redirect(url_for("sandbox.follower_page", app=account.name, openid=openid))
    openid = _openid(request.args.get("openid"))
    state = _state()
    follower = state.follower(account.appid, openid)
    return render_template(
        "sandbox/follower.html",
        accounts=current_services().settings.wechat.official,
        account=account,
        openid=openid,
        following=bool(follower and follower.subscribed),
        conversation=[_line(item) for item in state.conversation(account.appid, openid)],
        menu=_menu(state, account.appid),
        tickets=state.tickets(account.appid),
        mode=account.mode,
    )


@bp.post("/act")
def act() -> Response:
    account = _account(request.form.get("app"))
    openid = _openid(request.form.get("openid"))
    action = request.form.get("action", "")
    state = _state()
    follower = state.follower(account.appid, openid)
    following = bool(follower and follower.subscribed)
    sender = CallbackSender(
        account, f"{current_services().settings.sandbox.public_url.rstrip('/')}/wechat/{account.name}", openid
    )

    if action == "follow" and not following:
        state.set_follower(account.appid, openid, subscribed=True)
        state.touch(account.appid, openid, "action")
        state.say(account.appid, openid, "follower", "（关注了公众号）")
        _answered(state, account, openid, sender.follow())
    elif action == "unfollow" and following:
        state.set_follower(account.appid, openid, subscribed=False)
        state.say(account.appid, openid, "follower", "（取消关注）")
        _answered(state, account, openid, sender.unfollow())
    elif action == "text" and following:
        content = request.form.get("content", "").strip()
        if not content or len(content) > MAX_TEXT:
            abort(400, f"content: 1-{MAX_TEXT} characters")
        state.touch(account.appid, openid, "message")
        state.say(account.appid, openid, "follower", content)
        _answered(state, account, openid, sender.text(content))
    elif action == "click" and following:
        item = _menu_entry(state, account.appid, "click", request.form.get("key", ""))
        if item is None:
            abort(400, "key: not a click entry of the menu")
        state.touch(account.appid, openid, "action")
        state.say(account.appid, openid, "follower", f"（点击菜单「{item['name']}」）")
        _answered(state, account, openid, sender.click(item["key"]))
    elif action == "view" and following:
        item = _menu_entry(state, account.appid, "view", request.form.get("url", ""))
        if item is None:
            abort(400, "url: not a view entry of the menu")
        state.say(account.appid, openid, "follower", f"（点击菜单「{item['name']}」，打开 {item['url']}）")
        _answered(state, account, openid, sender.view(item["url"]))
    elif action == "scan":
        ticket = state.ticket(request.form.get("ticket", ""))
        if ticket is None or ticket["appid"] != account.appid:
            abort(400, "ticket: not a QR code of this account")
        if not following:
            state.set_follower(account.appid, openid, subscribed=True, scene="ADD_SCENE_QR_CODE")
        state.touch(account.appid, openid, "action")
        state.say(account.appid, openid, "follower", f"（扫描二维码 {ticket['scene']}）")
        if following:
            answer = sender.scan(ticket["scene"], request.form["ticket"])
        else:
            answer = sender.follow(scene=ticket["scene"], ticket=request.form["ticket"])
        _answered(state, account, openid, answer)
    else:
        abort(400, "action: not possible now")
    return redirect(url_for("sandbox.follower_page", app=account.name, openid=openid))


def _answered(state: SandboxState, account: OfficialAccount, openid: str, answer: CallbackAnswer) -> None:
    if answer.problem:
        state.say(account.appid, openid, "wechat", f"{SERVICE_UNAVAILABLE}（{answer.problem}）")
    elif answer.reply:
        state.say(account.appid, openid, "bot", answer.describe())


def _line(item: ChatLine | Delivered) -> dict[str, Any]:
    """A line of the page: who, what kind, the text shown."""
    if isinstance(item, ChatLine):
        kind = {"follower": "you", "bot": "passive reply", "wechat": "WeChat"}[item.who]
        return {"who": item.who, "kind": kind, "text": item.text, "at": item.at}
    body = item.body
    if item.kind == "custom" and body.get("msgtype") == "text":
        text = str(body.get("text", {}).get("content", ""))
    elif item.kind in ("template", "subscribe", "notice"):
        values = [f"{key}: {value.get('value', '')}" for key, value in (body.get("data") or {}).items()]
        link = body.get("url") or body.get("page") or (body.get("miniprogram") or {}).get("pagepath") or ""
        text = "\n".join([f"[{body.get('template_id')}]", *values, *([f"→ {link}"] if link else [])])
    else:
        text = json.dumps(body.get(body.get("msgtype", ""), body), ensure_ascii=False)
    return {"who": "delivered", "kind": _DELIVERED_KINDS[item.kind], "text": text, "at": item.at}
