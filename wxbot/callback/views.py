"""The official-account callback: GET|POST /wechat/<name>.

GET is WeChat's URL check: a valid `signature` gets `echostr` back (plain, in every mode); anything else is
403 (an unknown account 404).
POST is a delivery. Before anything is stored: the query's `signature` and timestamp age; for an encrypted
delivery (`encrypt_type=aes`) the `msg_signature` over the ciphertext and the appid inside it; the body's
size, encoding and the absence of DOCTYPE/entity declarations; the fields a delivery must have. Each refusal
is a 4xx with a short plain-text reason, logged without personal data.

Each account's `mode` is its 消息加解密方式 in WeChat's console (wechat-platform.md §1.3):
  - plaintext: plain XML only;
  - compatible: WeChat sends the plain fields *and* an Encrypt element (with encrypt_type=aes); the fields
    used are the decrypted ones, and a plain delivery (no encrypt_type) is taken too, as while switching;
  - safe: encrypted deliveries only. A plaintext body is signed by nothing but the query, which encrypted
    deliveries also expose, so taking one would let a captured query carry a forged plaintext body.

Bodies are XML, WeChat's default data format; an account switched to JSON pushes in the console gets 400s
(keep the console's 数据格式 on XML).

An accepted delivery goes to wxbot.callback.inbound.receive (stored once, retries answered as before) with the
router building the reply; the answer is the passive reply (encrypted in encrypted modes), or `success` in
plaintext mode and an empty body in encrypted mode when there is nothing to say (wechat-platform.md §2).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Blueprint, Response, request
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from wxbot import clock, metrics
from wxbot.callback import inbound
from wxbot.config.schema import OfficialAccount
from wxbot.handlers.router import HandlerContext
from wxbot.services import Services
from wxbot.web import services as current_services
from wxbot.wechat.crypto import CryptoError, MessageCrypto, signature_matches
from wxbot.wechat.messages import BadMessage, parse_xml
from wxbot.wechat.replies import render_reply_xml, reply_from_dict

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__, url_prefix="/wechat")

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_ECHOSTR = re.compile(r"[A-Za-z0-9_=+/-]{1,256}")
_TEXT_PLAIN = "text/plain; charset=utf-8"


class Door(Protocol):
    """What the checks below need of an app that WeChat pushes to: an official account, or a mini program's
    消息推送 (wxbot.callback.miniprogram)."""

    name: str
    appid: str
    token: str
    encoding_aes_key: str
    mode: str


class DeliveryRefused(Exception):
    """A delivery (or URL check) we do not take: answered `status` with `reason` as plain text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _refusal(name: str, exc: DeliveryRefused) -> Response:
    # the reason never contains request data, and the app name is ours (unknown names are cut short)
    log.warning("wechat callback refused app=%r status=%d reason=%s", name[:32], exc.status, exc.reason)
    return Response(
        exc.reason, status=exc.status, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


def _account(services: Services, name: str) -> OfficialAccount:
    account = services.settings.official_account(name)
    if account is None:
        raise DeliveryRefused(404, "unknown official account")
    return account


def _crypto(services: Services, account: Door) -> MessageCrypto:
    """One MessageCrypto per account and process (the key derivation is not redone per request)."""
    cryptos = services.callback_crypto
    crypto = cryptos.get(account.name)
    if crypto is None:
        crypto = cryptos[account.name] = MessageCrypto(account.token, account.encoding_aes_key, account.appid)
    return crypto


def _param(name: str, pattern: re.Pattern[str]) -> str:
    value = request.args.get(name, "")
    if not pattern.fullmatch(value):
        raise DeliveryRefused(400, f"{name} is missing or malformed")
    return value


def _check_signature(services: Services, account: Door) -> tuple[str, str]:
    """The query's timestamp and nonce, once `signature` over them is right and the timestamp fresh."""
    timestamp, nonce = _param("timestamp", _TIMESTAMP), _param("nonce", _NONCE)
    given = request.args.get("signature", "")
    if not given:
        raise DeliveryRefused(403, "signature is missing")
    window = services.settings.callback.timestamp_window_seconds
    if abs(clock.timestamp() - int(timestamp)) > window:
        raise DeliveryRefused(403, "timestamp outside the allowed window")
    if not signature_matches(given, account.token, timestamp, nonce):
        raise DeliveryRefused(403, "signature does not match")
    return timestamp, nonce


@bp.get("/<name>")
def verify_url(name: str) -> Response:
    try:
        services = current_services()
        account = _account(services, name)
        _check_signature(services, account)
        echostr = _param("echostr", _ECHOSTR)
    except DeliveryRefused as exc:
        # the URL check has one acceptable form: anything else is forbidden, whatever is wrong with it
        return _refusal(name, exc if exc.status == 404 else DeliveryRefused(403, exc.reason))
    return Response(echostr, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


def _read_body(limit: int) -> bytes:
    if (request.content_length or 0) > limit:
        raise DeliveryRefused(413, f"body over {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise DeliveryRefused(413, f"body over {limit} bytes")
    return body


def _delivery(
    services: Services,
    account: Door,
    timestamp: str,
    nonce: str,
    parse: Callable[[bytes], dict[str, Any]] = parse_xml,
) -> dict[str, Any]:
    """The delivery's fields, decrypted in encrypted modes, after every check on the body (`parse`: the
    data format's parser, for the body and for the decrypted text alike)."""
    encrypt_type = request.args.get("encrypt_type", "raw")
    if encrypt_type not in ("raw", "aes"):
        raise DeliveryRefused(400, "encrypt_type must be raw or aes")
    encrypted = encrypt_type == "aes"
    if encrypted and account.mode == "plaintext":
        raise DeliveryRefused(403, "encrypted delivery but this account's mode is plaintext")
    if not encrypted and account.mode == "safe":
        raise DeliveryRefused(403, "plaintext delivery but this account's mode is safe (encrypted only)")
    body = _read_body(services.settings.callback.max_body_bytes)
    try:
        fields = parse(body)
        if not encrypted:
            return fields
        msg_signature = request.args.get("msg_signature", "")
        if not _HEX40.fullmatch(msg_signature):
            raise DeliveryRefused(403, "msg_signature is missing or malformed")
        ciphertext = fields.get("Encrypt")
        if not isinstance(ciphertext, str) or not ciphertext:
            raise DeliveryRefused(400, "Encrypt is missing")
        if not signature_matches(msg_signature, account.token, timestamp, nonce, ciphertext):
            raise DeliveryRefused(403, "msg_signature does not match")
        try:
            inner = _crypto(services, account).decrypt(ciphertext)
        except CryptoError as exc:
            raise DeliveryRefused(403, f"ciphertext refused: {exc}") from exc
        return parse(inner)
    except BadMessage as exc:
        raise DeliveryRefused(400, str(exc)) from exc


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
    return {a.name for a in current_services().settings.wechat.official}


@dataclass(frozen=True)
class _Answered:
    response: Response
    outcome: str  # the label of wxbot_callback_seconds (and "error": answered 500)


def _answer(name: str) -> tuple[str, _Answered]:
    """(the account's name or "unknown", the answer to the delivery)."""
    app = "unknown"
    try:
        services = current_services()
        account = _account(services, name)
        app = account.name
        timestamp, nonce = _check_signature(services, account)
        fields = _delivery(services, account, timestamp, nonce)
        try:
            message = inbound.to_inbound(account.name, account.appid, fields)
        except BadMessage as exc:
            raise DeliveryRefused(400, str(exc)) from exc
        to_user = fields.get("ToUserName")
        if not isinstance(to_user, str) or not to_user or len(to_user) > 64:
            raise DeliveryRefused(400, "ToUserName is missing or malformed")
        if account.original_id and to_user != account.original_id:
            raise DeliveryRefused(403, "ToUserName is not this account")
    except DeliveryRefused as exc:
        return app, _Answered(_refusal(name, exc), f"refused_{exc.status}")

    router = services.router
    assert router is not None  # create_app() sets it

    def respond(session: Session, identity_id: int) -> dict[str, Any] | None:
        reply = router.dispatch(HandlerContext(message, identity_id, session, services))
        return reply.to_dict() if reply is not None else None

    report = router.report_for(message)
    try:
        received = (
            report is not None
            and inbound.receive_report(
                services.session_factory, message, lambda session: report(session, message)
            )
        ) or inbound.receive(
            services.session_factory,
            services.cache,
            message,
            respond,
            cache_ttl=services.settings.callback.dedupe_ttl_seconds,
        )
    except (OperationalError, InterfaceError, RedisError) as exc:
        # Nothing was stored; WeChat retries a failed delivery. The exception's text can carry the
        # message's content (SQL parameters), so only its type is logged.
        log.error("wechat callback unavailable app=%s error=%s", account.name, type(exc).__name__)
        return app, _Answered(
            Response("temporarily unavailable", status=503, mimetype="text/plain"), "unavailable"
        )
    encrypted = request.args.get("encrypt_type") == "aes"
    outcome = "retried_copy" if received.repeat else "replied" if received.reply is not None else "success"
    if received.reply is None:
        return app, _Answered(Response("" if encrypted else "success", mimetype="text/plain"), outcome)
    xml = render_reply_xml(
        reply_from_dict(received.reply),
        to_openid=message.openid,
        from_account=to_user,
        create_time=clock.timestamp(),
    )
    if encrypted:
        xml = _crypto(services, account).envelope(xml.encode(), timestamp, nonce)
    return app, _Answered(Response(xml, mimetype="application/xml"), outcome)
