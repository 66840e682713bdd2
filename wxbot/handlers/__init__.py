"""The official-account router and its handlers. Each handler module has `register(router)`; MODULES is the
one list create_app() builds the router from (a test fails when a module with rules is missing here)."""

from __future__ import annotations

from types import ModuleType

from wxbot.handlers import basic, binding, campus, conversations, privacy, reminders
from wxbot.handlers.replies import news_reply, render_reply_text, text_reply
from wxbot.handlers.router import HandlerContext, Priority, Router
from wxbot.wechat.replies import NewsReply, TextReply

MODULES: tuple[ModuleType, ...] = (privacy, conversations, binding, basic, campus, reminders)


def build_router(modules: tuple[ModuleType, ...] = MODULES) -> Router:
    router = Router()
    for module in modules:
        module.register(router)
    return router


__all__ = [
    "HandlerContext",
    "MODULES",
    "NewsReply",
    "Priority",
    "Router",
    "TextReply",
    "build_router",
    "news_reply",
    "render_reply_text",
    "text_reply",
]
