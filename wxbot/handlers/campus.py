"""「活动」 or 「宣讲会」 on the official account: the upcoming campus events, as one card into the mini program."""

from __future__ import annotations

from wxbot import clock
from wxbot.campus import views
from wxbot.handlers.replies import news_reply, text_reply
from wxbot.handlers.router import HandlerContext, Router
from wxbot.wechat.replies import Reply

LISTED = 5  # a card's description shows only a few lines


def upcoming_events(ctx: HandlerContext) -> Reply:
    found = views.upcoming_events(ctx.session, limit=LISTED + 1)
    if not found:
        return text_reply("events_none")
    listed = [
        {
            "when": clock.local_text(event.starts_at, views.event_zone(event), "%m-%d %H:%M"),
            "kind": views.KIND_NAMES[event.kind],
            "title": event.title,
            "city": event.city,
        }
        for event in found[:LISTED]
    ]
    settings = ctx.services.settings.events
    more = len(found) > LISTED
    if not settings.list_url:
        # Without a link into the mini program, the list itself, and where to sign up.
        return text_reply("events_text", events=listed, more=more)
    return news_reply(
        "events", events=listed, more=more, link=settings.list_url, picture=settings.list_picurl
    )


def register(router: Router) -> None:
    router.keyword("活动", "宣讲会", "双选会", "校园活动")(upcoming_events)
