"""The sender when things go wrong: answers written as they come, a sender that cannot write stops sending,
short leases renewed while sending, sends without an answer handled per channel (client_msg_id for template
and subscribe messages, "delivery unknown" and an agent's resend for customer-service messages), and one
recipient's messages in the order they were queued."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

import pymysql
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError

from jobs.sender import send_due
from tests.conftest import MP, OA
from tests.console_helpers import form_csrf, login, make_agent
from tests.test_tickets_flow import agent_reply, follower_in_sandbox, write
from wxbot.config.schema import NotifySettings
from wxbot.conversations import reply_window
from wxbot.db import session_scope
from wxbot.models import Conversation, Identity, Notification
from wxbot.push import grants, results, sender
from wxbot.push.enqueue import PushContent, SubscribeContent, TemplateContent, enqueue

TEMPLATE = "/cgi-bin/message/template/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
CUSTOM = "/cgi-bin/message/custom/send"
NOON = datetime(2026, 11, 30, 4, 0)  # 12:00 in Shanghai
TIMEOUT = 0.5  # seconds: WeChat's answer is waited for this long


@pytest.fixture
def config_dict(config_dict):
    fields = {"thing1": "{job_title}"}
    config_dict["notify"] = {
        "templates": {
            "status_viewed": {"oa": {"template_id": "oa-tid", "fields": fields},
                              "mp": {"template_id": "mp-tid", "fields": fields}},
            "ticket_reply": {"oa": {"template_id": "oa-reply-tid", "fields": {"thing1": "客服已回复你的留言"},
                                    "url": "{link}"}},
        },
        "quiet_hours_start": "", "quiet_hours_end": "", "daily_cap": 0,
        "retry_base_seconds": 10.0, "lease_seconds": 3,
    }  # fmt: skip
    config_dict["wechat"]["timeout_seconds"] = TIMEOUT
    config_dict["console"] = {"public_url": "https://wx.example.com"}
    return config_dict


def followers(db, sandbox, count, kind="official"):
    appid, app = (OA["appid"], "oa") if kind == "official" else (MP["appid"], "mp")
    rows = [{"app_name": app, "appid": appid, "kind": kind, "openid": f"{app}-{i}", "subscribed": True}
            for i in range(count)]  # fmt: skip
    db.execute(insert(Identity), rows)
    found = list(db.scalars(select(Identity).where(Identity.app_name == app).order_by(Identity.id)))
    for identity in found:
        sandbox.set_follower(appid, identity.openid)
    return found


def push_template(db, identity):
    content = PushContent(template=TemplateContent("status_viewed", {"job_title": "工程师"}))
    return enqueue(
        db, purpose="test", identity_id=identity.id, content=content, channels=("template",), urgent=True
    )


def rows(db):
    db.expire_all()
    found = list(db.scalars(select(Notification).order_by(Notification.id)))
    db.commit()
    return found


def test_each_answer_is_written_as_it_comes_not_after_the_batch(services, db, sandbox, monkeypatch):
    for identity in followers(db, sandbox, 4):
        push_template(db, identity)
    db.commit()
    services.settings.notify.concurrency = 1
    first_id = rows(db)[0].id
    seen: list[str] = []
    real = sender.wechat_call

    def call(api, send):
        if send.notification_id == first_id + 2:  # the third send: has the first been written meanwhile?
            for _ in range(100):
                with services.session_factory() as session:
                    status = session.get(Notification, first_id).status
                if status == "sent":
                    break
                time.sleep(0.05)
            seen.append(status)
        return real(api, send)

    monkeypatch.setattr(sender, "wechat_call", call)
    assert send_due(services).sent == 4
    assert seen == ["sent"]


def _lost_connection(code):
    return OperationalError(
        "UPDATE notifications ...", {}, pymysql.err.OperationalError(code, "can't connect")
    )


def test_a_sender_that_cannot_write_stops_sending_and_writes_when_the_database_answers(
    services, db, sandbox, monkeypatch
):
    for identity in followers(db, sandbox, 6):
        push_template(db, identity)
    db.commit()
    services.settings.notify.concurrency = 1
    sandbox.inject(TEMPLATE, latency=0.05, times=None)
    real = results.record
    failures: list[int] = []  # sends WeChat had received at each failed write

    def record(session, settings, token, answered):
        if len(failures) < 5:  # 2003 (the server restarting), then 2013 (lost mid-query)
            failures.append(len(sandbox.calls(TEMPLATE)))
            raise _lost_connection(2003 if len(failures) < 3 else 2013)
        return real(session, settings, token, answered)

    monkeypatch.setattr(results, "record", record)
    totals = send_due(services)
    # while the writes failed, no new send started (one may have been on the wire when the first failed)
    assert failures[-1] - failures[0] <= 1
    assert totals.sent == 6 and totals.not_sent >= 1
    received = Counter(c.body["touser"] for c in sandbox.calls(TEMPLATE))
    assert len(received) == 6 and set(received.values()) == {1}
    assert {r.status for r in rows(db)} == {"sent"}


def test_a_dead_senders_claims_come_back_after_the_short_lease(services, db, sandbox, clock):
    clock.set(NOON)
    services.settings.notify.lease_seconds = NotifySettings().lease_seconds  # the default
    (identity,) = followers(db, sandbox, 1)
    push_template(db, identity)
    db.commit()
    with session_scope(services.session_factory) as session:
        assert len(sender.claim(session, services.settings, limit=10).sends) == 1  # ... and the sender dies
    clock.advance(seconds=21)  # not two minutes
    assert send_due(services).sent == 1


def test_a_lease_is_renewed_while_its_batch_is_sent_so_no_other_sender_takes_it(services, db, sandbox):
    # 12 sends one after another, 0.4 s each: the batch outlasts its 3-second lease, renewed every 0.75 s
    for identity in followers(db, sandbox, 12):
        push_template(db, identity)
    db.commit()
    services.settings.notify.concurrency = 1
    sandbox.inject(TEMPLATE, latency=0.4, times=None)
    first = threading.Thread(target=send_due, args=(services,))
    first.start()
    time.sleep(0.3)
    while first.is_alive():  # another sender keeps looking for due rows
        send_due(services)
        time.sleep(0.2)
    received = Counter(c.body["touser"] for c in sandbox.calls(TEMPLATE))
    assert len(received) == 12 and set(received.values()) == {1}
    assert {r.status for r in rows(db)} == {"sent"}


# ---------------------------------------------------------------- sends without an answer


def test_a_template_message_without_an_answer_is_sent_again_with_its_client_msg_id_and_arrives_once(
    services, db, sandbox, clock
):
    clock.set(NOON)
    (identity,) = followers(db, sandbox, 1)
    push = push_template(db, identity)
    db.commit()
    sandbox.inject(TEMPLATE, latency=TIMEOUT * 3, answer_late=True)  # accepted; the answer comes too late
    assert send_due(services).retrying == 1
    clock.advance(seconds=15)
    assert send_due(services).sent == 1
    calls = sandbox.calls(TEMPLATE)
    assert [c.body["client_msg_id"] for c in calls] == [f"wxbot-{push.id}"] * 2
    assert len(sandbox.inbox(OA["appid"], identity.openid)) == 1  # WeChat dropped the repeat
    (row,) = rows(db)
    assert row.status == "sent" and row.msgid == str(
        sandbox.inbox(OA["appid"], identity.openid)[0].body["msgid"]
    )


def test_after_client_msg_id_s_window_an_unanswered_template_message_is_marked_unknown(
    services, db, sandbox, clock
):
    clock.set(NOON)
    (identity,) = followers(db, sandbox, 1)
    push_template(db, identity)
    db.commit()
    sandbox.inject(TEMPLATE, latency=TIMEOUT * 3, answer_late=True)
    send_due(services)
    clock.advance(minutes=10)  # WeChat would no longer drop a repeat
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == 1
    (row,) = rows(db)
    assert (row.status, row.reason) == ("unknown", "delivery_unknown")


def test_a_subscribe_message_carries_its_client_msg_id_and_a_repeat_spends_no_second_authorisation(
    services, db, sandbox, clock
):
    clock.set(NOON)
    (identity,) = followers(db, sandbox, 1, kind="miniprogram")
    grants.record_grant(db, identity.id, "mp-tid", source="client")
    db.commit()
    sandbox.grant_subscription(MP["appid"], identity.openid, "mp-tid", 1)
    content = PushContent(subscribe=SubscribeContent("status_viewed", {"job_title": "工程师"}))
    push = enqueue(
        db, purpose="test", identity_id=identity.id, content=content, channels=("subscribe",), urgent=True
    )
    db.commit()
    sandbox.inject(SUBSCRIBE, latency=TIMEOUT * 3, answer_late=True)
    send_due(services)
    clock.advance(seconds=15)
    send_due(services)
    assert [c.body["client_msg_id"] for c in sandbox.calls(SUBSCRIBE)] == [f"wxbot-{push.id}"] * 2
    assert [c.errcode for c in sandbox.calls(SUBSCRIBE)] == [0, 0]
    assert len(sandbox.inbox(MP["appid"], identity.openid)) == 1
    assert rows(db)[0].status == "sent"


def test_a_customer_service_message_without_an_answer_is_not_sent_again(services, db, sandbox, clock):
    clock.set(NOON)
    (identity,) = followers(db, sandbox, 1)
    reply_window.record_trigger(db, identity.id, "message")
    sandbox.touch(OA["appid"], identity.openid, "message")
    enqueue(db, purpose="test", identity_id=identity.id, content=PushContent(text="您好"), channels=("custom",),
            urgent=True)  # fmt: skip
    db.commit()
    sandbox.inject(CUSTOM, latency=TIMEOUT * 3, answer_late=True)
    assert send_due(services).unknown == 1
    clock.advance(hours=1)
    send_due(services)
    assert len(sandbox.calls(CUSTOM)) == 1
    (row,) = rows(db)
    assert (row.status, row.reason, row.channel) == ("unknown", "delivery_unknown", "custom")


def test_a_customer_service_message_whose_sender_died_while_sending_is_marked_unknown(
    services, db, sandbox, clock
):
    clock.set(NOON)
    (identity,) = followers(db, sandbox, 1)
    reply_window.record_trigger(db, identity.id, "message")
    sandbox.touch(OA["appid"], identity.openid, "message")
    enqueue(db, purpose="test", identity_id=identity.id, content=PushContent(text="您好"), channels=("custom",),
            urgent=True)  # fmt: skip
    db.commit()
    with session_scope(services.session_factory) as session:
        claim = sender.claim(session, services.settings, limit=10)
    with session_scope(services.session_factory) as session:
        assert results.dispatching(
            session, claim.token, claim.sends[0]
        )  # on the wire ... and the sender dies
    clock.advance(seconds=services.settings.notify.lease_seconds + 1)
    assert send_due(services).settled == 1
    assert sandbox.calls(CUSTOM) == []
    assert rows(db)[0].status == "unknown"


def test_the_agent_sees_an_unknown_delivery_and_resends_it_with_one_click(
    client, db, sandbox, clock, services
):
    clock.set(NOON)
    follower = follower_in_sandbox(client, sandbox)
    follower.send_text("留言")
    write(follower, sandbox, "请问面试什么时候通知？")
    make_agent(db)
    login(client)
    (conversation,) = db.scalars(select(Conversation)).all()
    db.commit()
    assert agent_reply(client, conversation.id, "您好，三天内通知。").status_code == 302
    sandbox.inject(CUSTOM, latency=TIMEOUT * 3, answer_late=True)
    send_due(services)
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "送达情况未知" in page and "重新发送" in page
    action = f"/console/c/{conversation.id}/m/"
    assert action in page
    path = page[page.index(action) :].split('"')[0]
    assert client.post(path, data={}).status_code == 400  # no CSRF token: refused
    assert client.post(path, data={"csrf_token": form_csrf(page)}).status_code == 302
    send_due(services)
    calls = sandbox.calls(CUSTOM)
    assert [c.body["text"]["content"] for c in calls] == ["您好，三天内通知。"] * 2
    page = client.get(f"/console/c/{conversation.id}").get_data(as_text=True)
    assert "已在聊天中发送" in page and "重新发送" not in page
    client.post(path, data={"csrf_token": form_csrf(page)})  # again: it was sent, nothing to resend
    send_due(services)
    assert len(sandbox.calls(CUSTOM)) == 2


# ---------------------------------------------------------------- order


def test_one_recipients_messages_go_out_in_the_order_queued_one_at_a_time(services, db, sandbox, clock):
    clock.set(NOON)
    (identity, *others) = followers(db, sandbox, 4)
    reply_window.record_trigger(db, identity.id, "message")
    sandbox.touch(OA["appid"], identity.openid, "message")
    for i in range(1, 6):
        enqueue(db, purpose="test", identity_id=identity.id, content=PushContent(text=f"第{i}条"),
                channels=("custom",), urgent=True)  # fmt: skip
    for other in others:
        push_template(db, other)
    db.commit()
    sandbox.inject(CUSTOM, latency=0.3)  # the first reply is slow to answer: the others must wait for it
    send_due(services)
    texts = [d.body["text"]["content"] for d in sandbox.inbox(OA["appid"], identity.openid)]
    assert texts == ["第1条", "第2条", "第3条", "第4条", "第5条"]
    assert {r.status for r in rows(db)} == {"sent"}
