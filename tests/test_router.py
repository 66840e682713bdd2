"""Routing rules and their priorities, through signed callbacks."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from tests.wechat_helpers import Follower, xml_of
from wxbot.handlers import NewsReply, Router, TextReply, render_reply_text
from wxbot.models import Account, InboundMessage


@pytest.fixture
def router(services) -> Router:
    router = Router()
    services.router = router
    return router


def answer(text: str):
    return lambda ctx: TextReply(text)


def test_rule_kinds(router, client):
    router.keyword("报名")(answer("keyword"))
    router.regex(r"^职位\s*(\d+)$")(lambda ctx: TextReply(f"job {ctx.match.group(1)}"))
    router.event("scan")(lambda ctx: TextReply(f"scan {ctx.message.scene}"))
    router.click("K1")(answer("click K1"))
    router.msg_type("image", "voice")(answer("media"))
    router.default(answer("default"))
    follower = Follower(client)
    assert follower.send_text("报名").content == "keyword"
    assert follower.send_text("报名吗").content == "default"  # keywords match whole messages only
    assert follower.send_text("职位 42").content == "job 42"
    assert (
        follower.scan("fair_2026").content == "scan fair_2026"
    )  # event names ignore case (WeChat sends SCAN)
    assert follower.click("K1").content == "click K1"
    assert follower.click("K2").content == "default"
    assert follower.message("voice", MediaId="m", Format="amr").content == "media"
    assert (
        follower.message("location", Location_X="1", Location_Y="2", Scale="1", Label="x").content
        == "default"
    )


def test_a_follow_through_a_qr_code_is_a_subscribe_with_its_scene(router, client):
    router.event("subscribe")(lambda ctx: TextReply(f"scene={ctx.message.scene} key={ctx.message.event_key}"))
    follower = Follower(client)
    assert follower.follow().content == "scene=None key=None"
    assert follower.follow(scene="poster").content == "scene=poster key=qrscene_poster"


def test_higher_priority_wins_and_registration_order_breaks_ties(router, client):
    router.keyword("hi")(answer("keyword"))
    router.regex("h")(answer("regex"))
    follower = Follower(client)
    assert follower.send_text("hi").content == "keyword"  # same priority: registered first

    conversation_open = {"yes": False}
    router.when(lambda ctx: conversation_open["yes"], priority=100)(answer("into the conversation"))
    assert follower.send_text("hi").content == "keyword"
    conversation_open["yes"] = True
    assert follower.send_text("hi").content == "into the conversation"

    router.regex("^h", priority=200)(answer("urgent regex"))
    assert follower.send_text("hi").content == "urgent regex"


def test_no_rule_and_no_default_answers_nothing(router, client, db):
    reply = Follower(client).send_text("hi")
    assert reply.status == 200 and not reply
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
    db.rollback()


def test_a_news_reply(router, client):
    router.keyword("card")(
        lambda ctx: NewsReply("T", "D", "https://example.com/a", "https://example.com/p.png")
    )
    (card,) = Follower(client).send_text("card").articles
    assert card == {
        "Title": "T",
        "Description": "D",
        "PicUrl": "https://example.com/p.png",
        "Url": "https://example.com/a",
    }


def test_a_failing_handler_is_logged_rolled_back_and_answered_politely(router, client, db, caplog):
    def broken(ctx):
        ctx.session.add(Account(platform_account_id="half-written"))
        ctx.session.flush()
        raise RuntimeError("boom")

    router.keyword("x")(broken)
    reply = Follower(client).send_text("x")
    assert reply.status == 200 and reply.content == render_reply_text("error")
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure and "broken" in failure[0].getMessage() and failure[0].exc_info[0] is RuntimeError
    assert db.scalar(sa.select(sa.func.count()).select_from(Account)) == 0  # its write is undone
    (row,) = db.scalars(sa.select(InboundMessage)).all()  # the message itself is kept, with the apology
    assert row.reply == {"type": "text", "content": render_reply_text("error")}
    db.rollback()


def test_a_handler_returning_something_else_than_a_reply_is_a_failure(router, client, caplog):
    router.default(lambda ctx: "a bare string")
    assert Follower(client).send_text("x").content == render_reply_text("error")
    assert any("not a reply" in (r.exc_text or "") for r in caplog.records)


def test_handlers_see_the_identity_and_the_message(router, client):
    seen = {}

    def look(ctx):
        seen.update(openid=ctx.identity.openid, subscribed=ctx.identity.subscribed, app=ctx.message.app_name,
                    type=ctx.message.msg_type, content=ctx.message.content, msg_id=ctx.message.msg_id)  # fmt: skip
        return None

    router.default(look)
    follower = Follower(client)
    follower.send_text("hello", MsgId=99887766)
    assert seen == {"openid": follower.openid, "subscribed": True, "app": "oa", "type": "text", "content": "hello",
                    "msg_id": "99887766"}  # fmt: skip


def test_the_shipped_rules_are_registered_on_the_application_router(client):
    follower = Follower(client)
    assert follower.follow().content == render_reply_text("welcome", scene=None)
    assert follower.send_text("Help").content == render_reply_text("help")


def test_subscription_events_list_their_items_whatever_the_wrapper(router, client):
    seen = []
    router.event("subscribe_msg_popup_event", "subscribe_msg_change_event")(
        lambda ctx: seen.append([i["TemplateId"] for i in ctx.message.subscription_items()])
    )
    follower = Follower(client)
    one = {"List": {"TemplateId": "T1", "SubscribeStatusString": "accept", "PopupScene": "2"}}
    two = {"List": {"TemplateId": "T2", "SubscribeStatusString": "reject"}}
    follower.event("subscribe_msg_popup_event", SubscribeMsgPopupEvent=one)
    # the doc sample's wrapper for a change event, with two entries
    body = follower.fields(MsgType="event", Event="subscribe_msg_change_event")
    xml = xml_of(body).replace("</xml>", "<SubscribeMsgPopupEvent><List><TemplateId>T1</TemplateId></List>"
                                        "<List><TemplateId>T2</TemplateId></List></SubscribeMsgPopupEvent></xml>")  # fmt: skip
    follower.send(xml)
    follower.event("subscribe_msg_change_event", SubscribeMsgChangeEvent=two)
    assert seen == [["T1"], ["T1", "T2"], ["T2"]]


def test_every_handler_module_with_rules_is_wired():
    """A handler module with register(router) that MODULES forgets would never answer: caught here."""
    import importlib
    import pkgutil

    import wxbot.handlers as handlers

    with_rules = {
        info.name
        for info in pkgutil.iter_modules(handlers.__path__)
        if hasattr(importlib.import_module(f"wxbot.handlers.{info.name}"), "register")
    }
    assert with_rules == {m.__name__.rsplit(".", 1)[1] for m in handlers.MODULES}
