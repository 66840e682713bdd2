"""What every official account answers: a welcome on follow, help, the demo menu, and a default."""

from __future__ import annotations

from wxbot.handlers import menu
from wxbot.handlers.replies import Reply, news_reply, text_reply
from wxbot.handlers.router import HandlerContext, router


@router.event("subscribe")
def welcome(ctx: HandlerContext) -> Reply:
    return text_reply("welcome", scene=ctx.message.scene)


@router.keyword("帮助", "help", "?", "？")
@router.click(menu.HELP)
def help_text(ctx: HandlerContext) -> Reply:
    return text_reply("help")


@router.click(menu.JOBS)
def latest_jobs(ctx: HandlerContext) -> Reply:
    return news_reply("menu_jobs")


@router.click(menu.ABOUT)
def about(ctx: HandlerContext) -> Reply:
    return text_reply("about")


@router.default
def fallback(ctx: HandlerContext) -> Reply | None:
    """Text nobody understood gets a pointer to help; other things a follower sends get an acknowledgement;
    events nobody handles get nothing (WeChat shows nothing for them anyway)."""
    if ctx.message.msg_type == "text":
        return text_reply("default")
    if ctx.message.msg_type != "event":
        return text_reply("received")
    return None
