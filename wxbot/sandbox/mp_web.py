"""The sandbox's second persona: a mini-program user (`/sandbox/mp/`, development only, with the sandbox).

The page plays the mini program: its script calls the real `/mp/<name>` API (so what works there works for the
mini program), and asks this module for what the WeChat client would give it: wx.login's js_code, a
getPhoneNumber code, "allow" on a subscribe prompt, the customer-service chat (entering it and writing, pushed
to `/wechat/mp/<name>` as WeChat pushes), the scan of an event's mini-program code, and every subscribe and
customer-service message WeChat delivered to this user.

No CSRF protection and no login, like the follower page: it drives a simulated WeChat on a developer's machine.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from wxbot.config.schema import MiniProgram
from wxbot.sandbox.mp_push import MiniProgramPushSender
from wxbot.sandbox.state import SandboxState
from wxbot.sandbox.web import MAX_TEXT, SERVICE_UNAVAILABLE, _line
from wxbot.web import services as current_services

bp = Blueprint("sandbox_mp", __name__, url_prefix="/sandbox/mp")

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_TEMPLATE = re.compile(r"[A-Za-z0-9_-]{1,64}")
REPLY_TEMPLATE = "ticket_reply"


def _state() -> SandboxState:
    state = current_services().sandbox
    assert state is not None  # mounted only with the sandbox
    return state


def _mp(name: Any) -> MiniProgram:
    settings = current_services().settings
    mp = (
        settings.miniprogram(name)
        if isinstance(name, str) and name
        else next(iter(settings.wechat.miniprogram), None)
    )
    if mp is None:
        abort(404, "no such mini program")
    return mp


def _openid(value: Any) -> str:
    if not isinstance(value, str) or not _OPENID.fullmatch(value):
        abort(400, "openid: 1-64 letters, digits, - or _")
    return value


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "a JSON object")
    return body


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(21)[:27].replace("-", "A").replace("_", "B")


@bp.get("/")
def user_page() -> Any:
    mp = _mp(request.args.get("app"))
    if "openid" not in request.args:  # a new person, with a unionid of their own
        return redirect(
            url_for("sandbox_mp.user_page", app=mp.name, openid=_new_id("o"), unionid=_new_id("u"))
        )
    settings = current_services().settings
    reply = settings.notify.template(REPLY_TEMPLATE, mp.name)
    return render_template(
        "sandbox/mp_user.html",
        mp=mp,
        miniprograms=settings.wechat.miniprogram,
        openid=_openid(request.args.get("openid")),
        unionid=_openid(request.args.get("unionid") or _new_id("u")),
        reply_template=reply.template_id if reply is not None else "",
        push=bool(mp.token),
    )


@bp.post("/wx/login")
def wx_login() -> dict[str, Any]:
    """wx.login: a js_code for this user (WeChat's code2Session will know it)."""
    body = _body()
    mp, openid = _mp(body.get("app")), _openid(body.get("openid"))
    unionid = _openid(body["unionid"]) if body.get("unionid") else None
    code = secrets.token_urlsafe(24)
    _state().add_login_code(mp.appid, code, openid, secrets.token_urlsafe(16), unionid=unionid)
    return {"code": code}


@bp.post("/wx/phone")
def wx_phone() -> dict[str, Any]:
    """The getPhoneNumber button: the user agreed; a code for that number, issued to this user."""
    body = _body()
    mp, openid = _mp(body.get("app")), _openid(body.get("openid"))
    phone = body.get("phone")
    if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
        abort(400, "phone: a mainland mobile number")
    code = secrets.token_urlsafe(24)
    _state().add_phone_code(mp.appid, code, phone, openid=openid)
    return {"code": code}


@bp.post("/wx/subscribe")
def wx_subscribe() -> dict[str, Any]:
    """wx.requestSubscribeMessage: the user tapped "allow" for these templates (one send each)."""
    body = _body()
    mp, openid = _mp(body.get("app")), _openid(body.get("openid"))
    template_ids = body.get("template_ids")
    if not isinstance(template_ids, list) or not all(
        isinstance(t, str) and _TEMPLATE.fullmatch(t) for t in template_ids
    ):
        abort(400, "template_ids: a list of template ids")
    state = _state()
    state.set_follower(mp.appid, openid)
    for template_id in template_ids:
        state.grant_subscription(mp.appid, openid, template_id)
    return {"results": {t: "accept" for t in template_ids}}


@bp.post("/wx/contact")
def wx_contact() -> dict[str, Any]:
    """The customer-service chat (<button open-type="contact">): entering it, or writing in it."""
    body = _body()
    mp, openid = _mp(body.get("app")), _openid(body.get("openid"))
    if not mp.token:
        abort(409, "this mini program has no message push configured (token)")
    state = _state()
    state.set_follower(mp.appid, openid)
    url = f"{current_services().settings.sandbox.public_url.rstrip('/')}/wechat/mp/{mp.name}"
    sender = MiniProgramPushSender(mp, url, openid)
    if body.get("action") == "enter":
        state.touch(mp.appid, openid, "action")
        state.say(mp.appid, openid, "follower", "（进入客服会话）")
        answer = sender.enter(str(body.get("session_from", ""))[:64])
    elif body.get("action") == "text":
        content = body.get("content")
        if not isinstance(content, str) or not content.strip() or len(content) > MAX_TEXT:
            abort(400, f"content: 1-{MAX_TEXT} characters")
        state.touch(mp.appid, openid, "message")
        state.say(mp.appid, openid, "follower", content.strip())
        answer = sender.text(content.strip())
    else:
        abort(400, "action: enter or text")
    if answer.problem:
        state.say(mp.appid, openid, "wechat", f"{SERVICE_UNAVAILABLE}（{answer.problem}）")
    return {"problem": answer.problem}


@bp.get("/wx/inbox")
def wx_inbox() -> dict[str, Any]:
    """What this user saw: their chat lines and every message WeChat delivered (customer service, subscribe)."""
    mp, openid = _mp(request.args.get("app")), _openid(request.args.get("openid"))
    lines = [_line(item) for item in _state().conversation(mp.appid, openid)]
    return {"lines": [{**line, "at": line["at"].strftime("%H:%M:%S")} for line in lines]}


@bp.get("/wx/codes")
def wx_codes() -> dict[str, Any]:
    """The mini-program codes WeChat drew for this mini program (what a poster shows): scan one."""
    mp = _mp(request.args.get("app"))
    drawn = [(i, d) for i, d in enumerate(_state().wxacodes.drawn) if d.appid == mp.appid]
    return {
        "codes": [
            {"scene": d.scene, "page": d.page, "image": url_for("sandbox_mp.wx_code_image", index=i)}
            for i, d in drawn
        ]
    }


@bp.get("/wx/codes/<int:index>.png")
def wx_code_image(index: int) -> Response:
    drawn = _state().wxacodes.drawn
    if not 0 <= index < len(drawn):
        abort(404)
    return Response(drawn[index].png, mimetype="image/png")
