"""A mini program's 消息推送 (message push): GET|POST /wechat/mp/<name>, its customer-service chat.

The same protocol as the official account's callback (wxbot.callback.views, whose checks this uses): GET is
the URL check (`echostr` back for a valid `signature`); POST is a delivery, refused with a 4xx and a short
reason unless its signature, timestamp, size, encryption (msg_signature and appid in the plaintext and
compatible/safe modes, as the mini program's `mode`) and fields are right. The body is XML or JSON as the
mini program's 数据格式 (`data_format`); the encrypted text inside is in the same format.

An accepted delivery is received exactly once (wxbot.callback.inbound.receive: a retry gets the first
answer) into the person's 留言 conversation (wxbot.conversations.doors). The answer is always `success` in
plaintext mode and an empty body in encrypted modes: the mini program's chat takes no passive replies, the
agents answer through its customer-service API. A mini program without a `token` has no message push (404).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, request
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from wxbot import metrics
from wxbot.callback import inbound
from wxbot.callback.views import (
    _ECHOSTR,
    DeliveryRefused,
    _Answered,
    _check_signature,
    _delivery,
    _param,
    _refusal,
)
from wxbot.config.schema import MiniProgram
from wxbot.conversations import doors
from wxbot.services import Services
from wxbot.web import services as current_services
from wxbot.wechat.messages import BadMessage, parse_json, parse_xml

log = logging.getLogger(__name__)

bp = Blueprint("wechat_mp", __name__, url_prefix="/wechat/mp")


def _miniprogram(services: Services, name: str) -> MiniProgram:
    mp = services.settings.miniprogram(name)
    if mp is None or not mp.token:
        raise DeliveryRefused(404, "unknown mini program or no message push configured")
    return mp


@bp.get("/<name>")
def verify_url(name: str) -> Response:
    try:
        services = current_services()
        mp = _miniprogram(services, name)
        _check_signature(services, mp)
        echostr = _param("echostr", _ECHOSTR)
    except DeliveryRefused as exc:
        return _refusal(name, exc if exc.status == 404 else DeliveryRefused(403, exc.reason))
    return Response(echostr, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


@bp.post("/<name>")
def receive(name: str) -> Response:
    started = time.perf_counter()
    try:
        app, answer = _answer(name)
    except Exception:  # answered 500 by the app's error handler
        metrics.CALLBACK_SECONDS.labels(name if name in _names() else "unknown", "error").observe(
            time.perf_counter() - started
        )
        raise
    metrics.CALLBACK_SECONDS.labels(app, answer.outcome).observe(time.perf_counter() - started)
    return answer.response


def _names() -> set[str]:
    return {mp.name for mp in current_services().settings.wechat.miniprogram if mp.token}


def _answer(name: str) -> tuple[str, _Answered]:
    """(the mini program's name or "unknown", the answer to the delivery)."""
    app = "unknown"
    try:
        services = current_services()
        mp = _miniprogram(services, name)
        app = mp.name
        timestamp, nonce = _check_signature(services, mp)
        parse = parse_json if mp.data_format == "json" else parse_xml
        fields = _delivery(services, mp, timestamp, nonce, parse)
        try:
            message = inbound.to_inbound(mp.name, mp.appid, fields, app_kind="miniprogram")
        except BadMessage as exc:
            raise DeliveryRefused(400, str(exc)) from exc
        to_user = fields.get("ToUserName")
        if not isinstance(to_user, str) or not to_user or len(to_user) > 64:
            raise DeliveryRefused(400, "ToUserName is missing or malformed")
        if mp.original_id and to_user != mp.original_id:
            raise DeliveryRefused(403, "ToUserName is not this mini program")
    except DeliveryRefused as exc:
        return app, _Answered(_refusal(name, exc), f"refused_{exc.status}")

    def respond(session: Session, identity_id: int) -> dict[str, Any] | None:
        doors.receive(
            session,
            identity_id,
            appid=message.appid,
            msg_type=message.msg_type,
            event=message.event,
            msg_id=message.msg_id,
            content=message.content or "",
            fields=message.fields,
        )
        return None

    try:
        received = inbound.receive(
            services.session_factory,
            services.cache,
            message,
            respond,
            cache_ttl=services.settings.callback.dedupe_ttl_seconds,
        )
    except (OperationalError, InterfaceError, RedisError) as exc:
        # nothing was stored and WeChat retries; the exception's text may carry the message (only its type)
        log.error("mini-program push unavailable app=%s error=%s", mp.name, type(exc).__name__)
        return app, _Answered(
            Response("temporarily unavailable", status=503, mimetype="text/plain"), "unavailable"
        )
    encrypted = request.args.get("encrypt_type") == "aes"
    outcome = "retried_copy" if received.repeat else "success"
    return app, _Answered(Response("" if encrypted else "success", mimetype="text/plain"), outcome)
