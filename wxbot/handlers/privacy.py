"""The users' rights on the official account, by keyword: 我的数据 (what we hold), 注销 (what cancelling
means), 确认注销 (start the review period), 撤销注销 (revoke it). The rules live in wxbot.privacy (access, cancellation)."""

from __future__ import annotations

from wxbot import clock
from wxbot.handlers.replies import text_reply
from wxbot.handlers.router import HandlerContext, Priority, Router
from wxbot.privacy import access, cancellation
from wxbot.wechat.replies import Reply

CHANNEL = "official_account"


def _actor(ctx: HandlerContext) -> str:
    return f"user:identity:{ctx.identity_id}"


def my_data(ctx: HandlerContext) -> Reply:
    account = ctx.account
    if account is None:
        counts = access.identity_access_summary(
            ctx.session, ctx.identity_id, actor=_actor(ctx), channel=CHANNEL
        )
        return text_reply("privacy_my_data_unlinked", counts=counts)
    summary = access.access_summary(
        ctx.session, ctx.services.pii, account.id, actor=_actor(ctx), channel=CHANNEL
    )
    return text_reply("privacy_my_data", phone=summary["phone"], counts=summary["counts"])


def _subject(ctx: HandlerContext) -> tuple[int | None, int]:
    """(account id or None, identity id), as wxbot.privacy takes them: the account's request when the follower
    linked one, else the request of the person behind the identity (the policy, §六, is for everyone)."""
    account = ctx.account
    return (account.id if account is not None else None), ctx.identity_id


def cancellation_info(ctx: HandlerContext) -> Reply:
    linked = ctx.account is not None
    return text_reply(
        "privacy_cancel_info" if linked else "privacy_cancel_info_unlinked",
        days=ctx.services.settings.privacy.cancellation_review_days,
    )


def cancel(ctx: HandlerContext) -> Reply:
    account_id, identity_id = _subject(ctx)
    request = cancellation.request_cancellation(
        ctx.session,
        account_id,
        identity_id=identity_id,
        review_days=ctx.services.settings.privacy.cancellation_review_days,
        channel=CHANNEL,
        actor=_actor(ctx),
    )
    assert request.effective_at is not None
    local = clock.to_local(request.effective_at, ctx.services.settings.app.timezone)
    return text_reply("privacy_cancel_started", when=local.strftime("%Y-%m-%d %H:%M"))


def revoke(ctx: HandlerContext) -> Reply:
    account_id, identity_id = _subject(ctx)
    if cancellation.pending_cancellation(ctx.session, account_id, identity_id=identity_id) is None:
        return text_reply("privacy_cancel_none")
    cancellation.revoke_cancellation(ctx.session, account_id, identity_id=identity_id, actor=_actor(ctx))
    return text_reply("privacy_cancel_revoked")


def register(router: Router) -> None:
    router.keyword("我的数据", "我的信息", "查看我的数据", priority=Priority.RIGHTS)(my_data)
    router.keyword("注销", "注销账号", priority=Priority.RIGHTS)(cancellation_info)
    router.keyword("确认注销", priority=Priority.RIGHTS)(cancel)
    router.keyword("撤销注销", priority=Priority.RIGHTS)(revoke)
