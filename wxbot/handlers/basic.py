"""What every official account answers: a welcome on follow, help, the demo menu, and a default."""

from __future__ import annotations

from wxbot.handlers import menu
from wxbot.handlers.replies import news_reply, text_reply
from wxbot.handlers.router import HandlerContext, Router
from wxbot.wechat.replies import Reply


def welcome(ctx: HandlerContext) -> Reply:
    return text_reply("welcome", scene=ctx.message.scene)


def help_text(ctx: HandlerContext) -> Reply:
    return text_reply("help")


def latest_jobs(ctx: HandlerContext) -> Reply:
    return news_reply("menu_jobs")


def about(ctx: HandlerContext) -> Reply:
    return text_reply("about")


def fallback(ctx: HandlerContext) -> Reply | None:
    """Text nobody understood gets a pointer to help; other things a follower sends get an acknowledgement;
    events nobody handles get nothing (WeChat shows nothing for them anyway)."""
    if ctx.message.msg_type == "text":
        return text_reply("default")
    if ctx.message.msg_type != "event":
        return text_reply("received")
    return None


def register(router: Router) -> None:
    router.event("subscribe")(welcome)
    router.keyword("帮助", "help", "?", "？")(help_text)
    router.click(menu.HELP)(help_text)
    router.click(menu.JOBS)(latest_jobs)
    router.click(menu.ABOUT)(about)
    router.default(fallback)
