"""The sandbox WeChat API: WeChat's API endpoints as the project calls them, over SandboxState.

Every request is recorded (path, query, JSON body, time, appid, answer) before its answer leaves, so a test
that got an answer can look at the record at once.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request

from wxbot import clock
from wxbot.sandbox.official import register as register_official
from wxbot.sandbox.rules import SandboxError
from wxbot.sandbox.state import INJECTED_HTTP_FAILURE, Call, SandboxState
from wxbot.wechat.errors import (
    API_UNAUTHORIZED,
    DATA_FORMAT_INVALID,
    GRANT_TYPE_INVALID,
    INVALID_MEDIA_SIZE,
    IP_NOT_WHITELISTED,
    LANG_INVALID,
)

MAX_IMAGE_BYTES = 1024 * 1024  # media/upload: the sandbox's own request limit (WeChat's is larger)

Work = Callable[[str, dict[str, str], Any], "dict[str, Any] | Response"]


def create_sandbox_app(state: SandboxState) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024

    def endpoint(
        path: str, methods: list[str], *, token: bool = True, json_body: bool = True
    ) -> Callable[[Work], Work]:
        def register(work: Work) -> Work:
            app.add_url_rule(path, path, lambda: _serve(state, path, token, work, json_body), methods=methods)
            return work

        return register

    @endpoint("/cgi-bin/token", ["GET"], token=False)
    def token(_appid: str, params: dict[str, str], _body: Any) -> dict[str, Any]:
        if params.get("grant_type") != "client_credential":
            raise SandboxError(GRANT_TYPE_INVALID, "invalid grant_type")
        return state.issue_token(params.get("appid", ""), params.get("secret", ""))

    @endpoint("/cgi-bin/stable_token", ["POST"], token=False)
    def stable_token(_appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if body.get("grant_type") != "client_credential":
            raise SandboxError(GRANT_TYPE_INVALID, "invalid grant_type")
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise SandboxError(DATA_FORMAT_INVALID, "data format error: force_refresh")
        return state.issue_stable_token(str(body.get("appid", "")), str(body.get("secret", "")), force)

    @endpoint("/cgi-bin/user/info", ["GET"])
    def user_info(appid: str, params: dict[str, str], _body: Any) -> dict[str, Any]:
        if params.get("lang", "zh_CN") not in ("zh_CN", "zh_TW", "en"):
            raise SandboxError(LANG_INVALID, "invalid lang")
        return state.user_info(appid, params.get("openid", ""))

    @endpoint("/cgi-bin/message/custom/send", ["POST"])
    def custom_send(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.send_custom(appid, body)

    @endpoint("/cgi-bin/message/template/send", ["POST"])
    def template_send(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.send_template(appid, body)

    @endpoint("/cgi-bin/message/subscribe/send", ["POST"])
    def subscribe_send(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.send_subscribe(appid, body)

    @endpoint("/cgi-bin/message/subscribe/bizsend", ["POST"])
    def bizsend(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.send_notice(appid, body)

    @endpoint("/wxa/sec/queryblocktmplmsg", ["POST"])
    def queryblocktmplmsg(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.blocked_templates(appid, body)

    @endpoint("/sns/jscode2session", ["GET"], token=False)
    def jscode2session(_appid: str, params: dict[str, str], _body: Any) -> dict[str, Any]:
        return state.code2session(
            params.get("appid", ""), params.get("secret", ""), params.get("js_code", ""),
            params.get("grant_type", ""),
        )  # fmt: skip

    @endpoint("/wxa/business/getuserphonenumber", ["POST"])
    def phone_number(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.phone_number(appid, body)

    @endpoint("/wxa/getwxacodeunlimit", ["POST"])
    def wxacode(appid: str, _params: dict[str, str], body: dict[str, Any]) -> Response:
        if not any(a.appid == appid and a.kind == "miniprogram" for a in state.apps()):
            raise SandboxError(API_UNAUTHORIZED, "api unauthorized")
        return Response(state.wxacodes.draw(appid, body), mimetype="image/png")

    @endpoint("/wxa/charge/usage/get", ["GET"])
    def charge_usage(appid: str, params: dict[str, str], _body: Any) -> dict[str, Any]:
        if params.get("spuId") != "10000077":
            raise SandboxError(DATA_FORMAT_INVALID, "invalid spuId")
        return state.phone_quota(appid)

    @endpoint("/cgi-bin/media/upload", ["POST"], json_body=False)
    def media_upload(appid: str, params: dict[str, str], _body: Any) -> dict[str, Any]:
        upload = request.files.get("media")
        if params.get("type") != "image" or upload is None:
            raise SandboxError(DATA_FORMAT_INVALID, "data format error: type=image and a media file")
        content = upload.read(MAX_IMAGE_BYTES + 1)
        if len(content) > MAX_IMAGE_BYTES or not content.startswith((b"\x89PNG", b"\xff\xd8\xff")):
            raise SandboxError(INVALID_MEDIA_SIZE, "invalid media size or type")
        media_id = secrets.token_urlsafe(32)
        state.add_media(appid, media_id, content, upload.mimetype or "image/png")
        return {"type": "image", "media_id": media_id, "created_at": clock.timestamp()}

    @endpoint("/cgi-bin/media/get", ["GET"])
    def media_get(appid: str, params: dict[str, str], _body: Any) -> dict[str, Any] | Response:
        media_id = params.get("media_id", "")
        content, content_type = state.media(appid, media_id)
        if content_type.startswith("video/"):
            # WeChat answers a video with a link to download it from, not with the file.
            return {"video_url": f"{request.host_url.rstrip('/')}{request.script_root}/video?"
                                 f"appid={quote(appid)}&media_id={quote(media_id)}"}  # fmt: skip
        disposition = f'attachment; filename="{media_id}"'
        return Response(content, content_type=content_type, headers={"Content-disposition": disposition})

    @endpoint("/video", ["GET"], token=False)
    def video(_appid: str, params: dict[str, str], _body: Any) -> Response:
        content, content_type = state.media(params.get("appid", ""), params.get("media_id", ""))
        return Response(content, content_type=content_type)

    @endpoint("/cgi-bin/qrcode/create", ["POST"])
    def qrcode_create(appid: str, _params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return state.create_qrcode(appid, body)

    @endpoint("/cgi-bin/showqrcode", ["GET"], token=False)
    def showqrcode(_appid: str, params: dict[str, str], _body: Any) -> Response:
        found = state.ticket(params.get("ticket", ""))
        if found is None:
            return Response("invalid ticket", status=404, mimetype="text/plain")
        # Not a scannable code: a picture that says which scene it stands for.
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240"><rect width="240" height="240" '
            'fill="#fff" stroke="#000"/><text x="120" y="120" text-anchor="middle" font-size="14">'
            f"scene {escape(found['scene'])}</text></svg>"
        )
        return Response(svg, mimetype="image/svg+xml")

    register_official(endpoint, state)
    return app


def _serve(
    state: SandboxState, path: str, token_required: bool, work: Work, json_body: bool = True
) -> Response:
    params = request.args.to_dict()
    body = _json_body() if request.method == "POST" and json_body else None
    injection = state.take_injection(path)
    if injection is not None and injection.latency and not injection.answer_late:
        time.sleep(injection.latency)
    appid: str | None = params.get("appid") or (
        str(body.get("appid")) if isinstance(body, dict) and body.get("appid") else None
    )
    if injection is not None and injection.http_status is not None:
        state.record(
            Call(path, params, body, clock.now(), appid, INJECTED_HTTP_FAILURE, injection.http_status)
        )
        return Response("<html><body>502 Bad Gateway</body></html>", status=injection.http_status,
                        mimetype="text/html")  # fmt: skip
    answer: dict[str, Any] | Response
    try:
        if token_required:
            appid = state.app_for_token(params.get("access_token"))
        if injection is not None and injection.errcode is not None:
            raise SandboxError(injection.errcode, _injected_errmsg(injection.errcode))
        if request.method == "POST" and json_body and not isinstance(body, dict):
            raise SandboxError(DATA_FORMAT_INVALID, "data format error")
        answer = work(appid or "", params, body)
        errcode = 0
    except SandboxError as exc:
        errcode = exc.errcode
        answer = {"errcode": exc.errcode, "errmsg": f"{exc.errmsg} rid: {_rid()}"}
    state.record(Call(path, params, body, clock.now(), appid, errcode))
    if injection is not None and injection.answer_late:
        time.sleep(injection.latency)  # done and recorded; the caller waits for the answer
    if isinstance(answer, Response):
        return answer
    return Response(json.dumps(answer, ensure_ascii=False), mimetype="application/json")


def _injected_errmsg(errcode: int) -> str:
    if errcode == IP_NOT_WHITELISTED:  # WeChat names the caller's address
        address = request.remote_addr or ""
        return f"invalid ip {address} ipv6 ::ffff:{address}, not in whitelist"
    return "injected by the sandbox"


def _rid() -> str:
    """A request id shaped like WeChat's (it appends one to every errmsg)."""
    return "-".join(secrets.token_hex(4) for _ in range(3))


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        return None
