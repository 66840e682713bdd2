"""Who the mini-program user is: login, phone authorisation, me, unlink, logout, redeeming a binding token."""

from __future__ import annotations

import logging
import re
from typing import Any, NoReturn

from flask import g

from wxbot import clock
from wxbot.handlers.replies import render_reply_text
from wxbot.identity import binding, identities, logins, phone_quota
from wxbot.miniprogram import bp, login_required, string_field
from wxbot.miniprogram.openapi import AUTH, add_paths, errors, ok, request_body
from wxbot.privacy import consent
from wxbot.web import abort_api, db, json_body, services
from wxbot.wechat import wxa_crypto
from wxbot.wechat.errors import (
    CODE_INVALID,
    CODE_USED,
    MINUTE_LIMIT,
    PHONE_QUOTA_EXHAUSTED,
    WeChatError,
    WeChatUnavailable,
)

log = logging.getLogger(__name__)

# wx.login and getPhoneNumber codes: WeChat's are 32 characters; allow some room, nothing exotic.
CODE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
BASE64 = re.compile(r"[A-Za-z0-9+/=]+")
INVALID_CODE_ERRCODES = (CODE_INVALID, CODE_USED)


def actor() -> str:
    return f"user:identity:{g.identity.id}"


def me_view() -> dict[str, Any]:
    """The signed-in user as they may see themselves: account (phone masked), linked WeChat identities."""
    identity, account = g.identity, g.account
    members = identities.identities_of(db(), account.id) if account is not None else [identity]
    return {
        "linked": account is not None,
        "account": identities.account_summary(services().pii, account),
        "identities": [
            {
                "app": m.app_name,
                "kind": m.kind,
                "current": m.id == identity.id,
                "subscribed": m.subscribed if m.kind == "official" else None,
            }
            for m in members
        ],
        "preferences": {"reminders": account.reminder_pref} if account is not None else None,
    }


def wechat_refused(exc: WeChatError | WeChatUnavailable) -> NoReturn:
    """WeChat's refusal as our answer: a bad code is the client's (400), a limit is 429, the rest 502."""
    if isinstance(exc, WeChatUnavailable):
        abort_api(502, "wechat_unavailable", "WeChat did not answer; try again")
    if exc.errcode in INVALID_CODE_ERRCODES:
        abort_api(
            400,
            "invalid_code",
            "the code is invalid, expired or used; get a new one",
            field="code",
            errcode=exc.errcode,
        )
    if exc.errcode == MINUTE_LIMIT:
        abort_api(429, "rate_limited", "WeChat's rate limit; try again in a minute", errcode=exc.errcode)
    abort_api(502, "wechat_error", f"WeChat refused with errcode {exc.errcode}", errcode=exc.errcode)


@bp.post("/login")
def login() -> dict[str, Any]:
    """wx.login's code -> code2Session -> our login token. The session_key stays here, encrypted."""
    code = string_field(json_body(), "code", max_length=128, pattern=CODE)
    mp = g.miniprogram
    try:
        wechat = services().wechat.code2session(mp.name, code)
    except (WeChatError, WeChatUnavailable) as exc:
        wechat_refused(exc)
    session, settings = db(), services().settings.identity
    identity = identities.upsert_identity(
        session,
        app_name=mp.name,
        appid=mp.appid,
        kind="miniprogram",
        openid=wechat["openid"],
        unionid=wechat.get("unionid"),
    )
    logins.store_session_key(session, services().pii, identity, wechat["session_key"])
    account = identities.settle_unionid_group(session, identity, actor=f"user:identity:{identity.id}")
    token, _ = logins.start(session, identity, ttl_seconds=settings.login_ttl_seconds)
    session.commit()
    return {
        "token": token,
        "expires_in": settings.login_ttl_seconds,
        "linked": account is not None,
        "account": identities.account_summary(services().pii, account),
    }


@bp.post("/phone")
@login_required
def phone() -> dict[str, Any]:
    """Phone authorisation: a phone number WeChat verified links this user to the account that holds it."""
    body = json_body()
    if body.get("consent") is not True:
        abort_api(
            400, "consent_required", "agree to the use of your phone number (consent: true)", field="consent"
        )
    if "code" not in body and "encrypted_data" not in body:
        abort_api(400, "invalid_field", "send code (getPhoneNumber), or encrypted_data and iv", field="code")
    if body.get("change_phone", False) not in (True, False):
        abort_api(400, "invalid_field", "change_phone must be true or false", field="change_phone")
    if g.account is not None and g.account.phone_enc and body.get("change_phone") is not True:
        # already linked through a phone: each verification costs money, so WeChat is not asked again
        return me_view()
    if "code" in body:  # newer clients get a code and the legacy pair together: the code wins
        code = string_field(body, "code", max_length=128, pattern=CODE)
        spend_phone_lookup()
        number = phone_from_code(code)
    else:
        encrypted_data = string_field(
            body, "encrypted_data", max_length=wxa_crypto.MAX_ENCRYPTED_DATA, pattern=BASE64
        )
        iv = string_field(body, "iv", max_length=32, pattern=BASE64)
        spend_phone_lookup()
        number = phone_from_encrypted_data(encrypted_data, iv)
    session, pii = db(), services().pii
    try:
        account = identities.link_by_phone(session, pii, g.identity, number, actor=actor())
    except ValueError:
        abort_api(400, "unsupported_phone", "only mainland China mobile numbers can be linked")
    consent.record(
        session, kind="phone", channel="miniprogram", account_id=account.id, identity_id=g.identity.id
    )
    session.commit()
    g.account = account
    return me_view()


def phone_from_code(code: str) -> str:
    db().commit()  # end the read of the login: on SQLite it holds the write lock, and WeChat may take seconds
    name = g.miniprogram.name
    try:
        # with the openid, WeChat checks that the code was issued to this user
        info = services().wechat.phone_number(name, code, openid=g.identity.openid)
    except WeChatError as exc:
        if exc.errcode == PHONE_QUOTA_EXHAUSTED:
            quota_exhausted(name)
        wechat_refused(exc)
    except WeChatUnavailable as exc:
        wechat_refused(exc)
    phone_quota.record_success(db(), name)  # paid for, whatever becomes of the number
    db().commit()
    return pure_phone(info)


def quota_exhausted(name: str) -> NoReturn:
    """WeChat refused for want of paid quota: the operator must top it up; the user is told plainly."""
    log.error(
        "phone quota exhausted app=%s: WeChat refuses phone verifications (1400001) until the mini program's "
        "quota is topped up (mp.weixin.qq.com 付费管理)",
        name,
    )
    phone_quota.record_exhausted(db(), name)
    db().commit()
    abort_api(503, "phone_quota_exhausted", render_reply_text("phone_quota_exhausted"),
              errcode=PHONE_QUOTA_EXHAUSTED)  # fmt: skip


def phone_from_encrypted_data(encrypted_data: str, iv: str) -> str:
    session_key = logins.session_key(db(), services().pii, g.identity)
    if session_key is None:
        abort_api(409, "session_expired", "log in again (wx.login), then retry")
    try:
        data = wxa_crypto.decrypt_user_data(g.miniprogram.appid, session_key, encrypted_data, iv)
    except wxa_crypto.MalformedData as bad:
        abort_api(400, "invalid_field", str(bad), field=bad.field)
    except wxa_crypto.StaleSessionKey:
        abort_api(
            409, "session_expired", "the data was encrypted with an older session; log in again, then retry"
        )
    except wxa_crypto.WrongApp:
        abort_api(400, "invalid_field", "the data was issued to another app", field="encrypted_data")
    if not isinstance(data.get("purePhoneNumber"), str):
        abort_api(400, "invalid_field", "the data holds no phone number", field="encrypted_data")
    max_age = services().settings.identity.watermark_max_age_seconds
    try:
        wxa_crypto.check_watermark_age(data, now=clock.timestamp(), max_age_seconds=max_age)
    except wxa_crypto.StaleWatermark:
        abort_api(
            400, "invalid_field", "the data is too old; get the phone number again", field="encrypted_data"
        )
    return pure_phone(data)


def pure_phone(info: dict[str, Any]) -> str:
    """The national number of a phone_info (countryCode may come as a number: parse leniently)."""
    number, country = info.get("purePhoneNumber"), str(info.get("countryCode", "86"))
    if not isinstance(number, str) or not number:
        abort_api(502, "wechat_unavailable", "WeChat's answer carries no phone number")
    if country != "86":
        abort_api(400, "unsupported_phone", "only mainland China mobile numbers can be linked")
    return number


def spend_phone_lookup() -> None:
    """Phone lookups cost money per success (wechat-platform.md 7.2): a daily cap per user and per app."""
    settings, cache = services().settings, services().cache
    day = local_day(settings.app.timezone)
    per_identity = cache.incr(f"phone-lookups:identity:{g.identity.id}:{day}", ttl=2 * 86400)
    if per_identity > settings.identity.phone_lookups_per_identity_per_day:
        abort_api(429, "rate_limited", "too many phone authorisations today; try again tomorrow")
    per_app = cache.incr(f"phone-lookups:app:{g.miniprogram.appid}:{day}", ttl=2 * 86400)
    if per_app > settings.identity.phone_lookups_per_app_per_day:
        abort_api(429, "rate_limited", "phone authorisation is busy today; try again tomorrow")


def local_day(timezone: str) -> str:
    """Today in the users' time zone (WeChat's quotas and ours reset at local midnight)."""
    return clock.local_text(clock.now(), timezone, "%Y%m%d")


@bp.post("/bind")
@login_required(linked=True)
def bind() -> dict[str, Any]:
    """Redeem the token of an official account's 绑定 link: that follower joins this user's account."""
    token = string_field(json_body(), "token", max_length=64, pattern=binding.TOKEN_PATTERN)
    session = db()
    binding.redeem_follower_link(session, token, user=g.identity, account=g.account)
    session.commit()
    return me_view()


@bp.get("/me")
@login_required
def me() -> dict[str, Any]:
    return me_view()


@bp.delete("/me/link")
@login_required
def unlink() -> dict[str, Any]:
    """Unlink this WeChat user (the identity and its unionid group) from the account."""
    session = db()
    identities.unlink(session, g.identity, actor=actor())
    session.commit()
    g.account = None
    return me_view()


@bp.post("/logout")
@login_required
def logout() -> dict[str, Any]:
    session = db()
    logins.revoke(session, g.login)
    session.commit()
    return {"logged_out": True}


CODE_SCHEMA = {"type": "string", "pattern": CODE.pattern, "maxLength": 128}
add_paths(
    {
        "/login": {
            "post": {
                "summary": "Log in with wx.login's code (code2Session); answers a bearer token",
                "requestBody": request_body(
                    {"type": "object", "required": ["code"], "properties": {"code": CODE_SCHEMA}}
                ),
                "responses": {"200": ok("Login"), **errors(400, 404, 429, 502)},
            }
        },
        "/phone": {
            "post": {
                "summary": "Authorise the phone number WeChat verified; links this user to the account holding it",
                "description": "`code` from getPhoneNumber (getuserphonenumber), or for older clients `encrypted_data` "
                "and `iv` (decrypted with the session_key of the latest login: 409 `session_expired` means log in "
                "again). `consent: true` records the user's separate consent to the phone number's use. When "
                "`code` is present it is used and the legacy pair is ignored. Daily caps: 429. Each verification "
                "costs money: a user already linked through a phone is answered as is, without asking WeChat, "
                "unless `change_phone: true` (show the getPhoneNumber button only when `linked` is false). No "
                "paid quota left (WeChat's 1400001): 503 `phone_quota_exhausted`, with a message to show.",
                "security": AUTH,
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["consent"],
                        "properties": {
                            "consent": {"const": True},
                            "code": CODE_SCHEMA,
                            "encrypted_data": {"type": "string", "maxLength": wxa_crypto.MAX_ENCRYPTED_DATA},
                            "iv": {"type": "string", "maxLength": 32},
                            "change_phone": {"type": "boolean"},
                        },
                        "anyOf": [{"required": ["code"]}, {"required": ["encrypted_data", "iv"]}],
                    }
                ),
                "responses": {"200": ok("Me"), **errors(400, 401, 404, 409, 429, 502, 503)},
            }
        },
        "/bind": {
            "post": {
                "summary": "Redeem the one-time token of an official account's 绑定 link: that follower joins "
                "this user's account",
                "security": AUTH,
                "requestBody": request_body(
                    {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
                ),
                "responses": {"200": ok("Me"), **errors(400, 401, 403, 404, 409)},
            }
        },
        "/me": {
            "get": {
                "summary": "The signed-in user: account (phone masked), linked WeChat identities, preferences",
                "security": AUTH,
                "responses": {"200": ok("Me"), **errors(401, 404)},
            }
        },
        "/me/link": {
            "delete": {
                "summary": "Unlink this WeChat user (and its other WeChat identities with the same unionid)",
                "security": AUTH,
                "responses": {"200": ok("Me"), **errors(401, 404)},
            }
        },
        "/logout": {
            "post": {
                "summary": "Revoke this login token",
                "security": AUTH,
                "responses": {"200": ok("LoggedOut"), **errors(401, 404)},
            }
        },
    }
)
