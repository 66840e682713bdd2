"""The official-account router and its handlers. Each concern registers its rules on `router` in its own
module; importing the module here is what puts its rules in force."""

from wxbot.handlers import (  # noqa: F401  (register their rules)
    basic,
    binding,
    campus,
    conversations,
    privacy,
    reminders,
)
from wxbot.handlers.replies import NewsReply, TextReply, news_reply, render_reply, text_reply
from wxbot.handlers.router import HandlerContext, Router, router

__all__ = [
    "HandlerContext",
    "NewsReply",
    "Router",
    "TextReply",
    "news_reply",
    "render_reply",
    "router",
    "text_reply",
]
