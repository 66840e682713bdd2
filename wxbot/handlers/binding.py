"""Binding a follower to a platform account from the official account, with proof:
- 「绑定」: a mini-program link (and a web link where configured) carrying a one-time token; the logged-in,
  phone-linked mini-program user who opens it redeems it (POST /mp/<name>/bind) and the follower joins their
  account.
- following or scanning the platform's binding QR code (POST /platform/bind-qr): the follower joins the
  account the code was made for, once, before it expires.
"""

from __future__ import annotations

from urllib.parse import quote

from wxbot.handlers.replies import text_reply
from wxbot.handlers.router import HandlerContext, Priority, Router
from wxbot.identity import binding, identities
from wxbot.wechat.replies import Reply


def bind_link(ctx: HandlerContext) -> Reply:
    settings = ctx.services.settings
    if ctx.account is not None:
        return text_reply("bind_already")
    mp = (
        settings.miniprogram(settings.identity.bind_miniprogram)
        if settings.identity.bind_miniprogram
        else None
    )
    mp = mp or (settings.wechat.miniprogram[0] if settings.wechat.miniprogram else None)
    web_url = settings.identity.bind_web_url
    if mp is None and not web_url:
        return text_reply("bind_unavailable")
    ttl = settings.identity.bind_token_ttl_seconds
    token = binding.issue_follower_link(ctx.session, ctx.identity, ttl_seconds=ttl)
    return text_reply(
        "bind_link",
        appid=mp.appid if mp else None,
        path=f"{settings.identity.bind_page}?token={token}",
        web_url=f"{web_url}{'&' if '?' in web_url else '?'}token={quote(token)}" if web_url else None,
        minutes=max(1, ttl // 60),
    )


def is_binding_scene(ctx: HandlerContext) -> bool:
    return ctx.message.event in ("subscribe", "scan") and binding.qr_token(ctx.message.scene) is not None


def bind_by_qr(ctx: HandlerContext) -> Reply:
    token = binding.qr_token(ctx.message.scene)
    assert token is not None  # is_binding_scene checked it
    try:
        with ctx.session.begin_nested():  # a refusal leaves the token unspent
            binding.redeem_account_qr(ctx.session, token, follower=ctx.identity)
    except (binding.BindingRefused, identities.LinkRefused) as refused:
        return text_reply("bind_refused", reason=refused.code, welcome=ctx.message.event == "subscribe")
    return text_reply("bind_done", welcome=ctx.message.event == "subscribe")


def register(router: Router) -> None:
    router.keyword("绑定", "绑定账号", priority=Priority.ACCOUNT_COMMAND)(bind_link)
    router.when(is_binding_scene, priority=Priority.SCENE)(bind_by_qr)
