"""POST /platform/bind-qr: a temporary QR code that links whoever follows or scans it to a platform account."""

from __future__ import annotations

from typing import Any

from wxbot.identity import binding, identities
from wxbot.platform import bp
from wxbot.platform.accounts import platform_account_id
from wxbot.web import abort_api, db, json_body, services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable


@bp.post("/bind-qr")
def bind_qr() -> dict[str, Any]:
    """{"account_id", "official_account"?} -> {"url", "image_url", "expires_in"}. The account must be known
    (POST /platform/accounts first); the official account defaults to the first configured one."""
    body = json_body()
    account_id = platform_account_id(body)
    settings = services().settings
    oa_name = body.get(
        "official_account", settings.wechat.official[0].name if settings.wechat.official else None
    )
    if not isinstance(oa_name, str) or settings.official_account(oa_name) is None:
        abort_api(
            400,
            "invalid_field",
            "official_account must name a configured official account",
            field="official_account",
        )
    session = db()
    account = identities.account_by_platform_id(session, account_id)
    if account is None or account.status == "cancelled":
        abort_api(404, "unknown_account", "no such account; POST /platform/accounts first")
    session.commit()  # end the read: on SQLite it holds the write lock, and WeChat may take seconds
    ttl = settings.identity.bind_qr_ttl_seconds
    token = binding.new_token()
    try:
        qrcode = services().wechat.create_qrcode(oa_name, binding.qr_scene(token), ttl)
    except WeChatError as exc:
        abort_api(502, "wechat_error", f"WeChat refused with errcode {exc.errcode}", errcode=exc.errcode)
    except WeChatUnavailable:
        abort_api(502, "wechat_unavailable", "WeChat did not answer; try again")
    binding.record_account_qr(session, token, account, oa_name=oa_name, ttl_seconds=ttl)
    session.commit()
    return {
        "url": qrcode.get("url"),
        "image_url": qrcode.get("image_url"),
        "expires_in": int(qrcode.get("expire_seconds") or ttl),
    }
