"""The push sender against the sandbox WeChat: channel choice, WeChat's errors, holds, caps and choices."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.conftest import MP, OA
from tests.helpers import platform_post
from wxbot.applications import status_changes as applications
from wxbot.conversations import reply_window
from wxbot.models import Account, ApiPause, Identity, Notification, SubscribeGrant
from wxbot.push import explain, grants
from wxbot.push.enqueue import PushContent, TemplateContent, enqueue

TEMPLATE = "/cgi-bin/message/template/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
CUSTOM = "/cgi-bin/message/custom/send"
OA_TID = "oa-status-tid"
MP_TID = "mp-status-tid"
NOON = datetime(2026, 11, 30, 4, 0)  # 12:00 in Shanghai: outside the quiet hours
FIELDS = {"thing1": "{job_title}", "thing2": "{company}", "phrase3": "{status}", "time4": "{changed_at}"}


@pytest.fixture
def config_dict(config_dict):
    templates = {}
    for status in ("delivered", "viewed", "to_communicate", "interview", "rejected", "hired"):
        templates[f"status_{status}"] = {
            "oa": {"template_id": OA_TID, "fields": FIELDS, "page": "pages/app?id={application_id}",
                   "miniprogram": "mp"},
            "mp": {"template_id": MP_TID, "fields": FIELDS, "page": "pages/app?id={application_id}"},
        }  # fmt: skip
    config_dict["notify"] = {"templates": templates, "daily_cap": 3, "retry_base_seconds": 10.0}
    return config_dict


@pytest.fixture
def noon(clock):
    clock.set(NOON)
    return clock


class Person:
    """A seeker with an account, an official-account identity and a mini-program identity (one unionid)."""

    def __init__(self, db, sandbox, *, n=1, follows=True, in_sandbox=True):
        self.account = Account(platform_account_id=f"acc-{n}")
        db.add(self.account)
        db.flush()
        self.oa = Identity(app_name="oa", appid=OA["appid"], kind="official", openid=f"oa-open-{n}",
                           unionid=f"union-{n}", subscribed=follows)  # fmt: skip
        self.mp = Identity(app_name="mp", appid=MP["appid"], kind="miniprogram", openid=f"mp-open-{n}",
                           unionid=f"union-{n}", account_id=self.account.id)  # fmt: skip
        db.add_all([self.oa, self.mp])
        db.commit()
        if in_sandbox:
            sandbox.set_follower(OA["appid"], self.oa.openid, subscribed=follows, unionid=f"union-{n}")
            sandbox.set_follower(MP["appid"], self.mp.openid, unionid=f"union-{n}")
        self.db, self.sandbox, self.n = db, sandbox, n

    def grant(self, times=1, *, in_sandbox=True):
        for _ in range(times):
            grants.record_grant(self.db, self.mp.id, MP_TID, source="client")
        self.db.commit()
        if in_sandbox:
            self.sandbox.grant_subscription(MP["appid"], self.mp.openid, MP_TID, times)


def status_event(client, status="to_communicate", *, n=1, event="e1", application="a1", at="2026-11-30T11:00:00+08:00"):  # fmt: skip
    body = {"event_id": event, "account_id": f"acc-{n}", "application_id": application,
            "job_title": "后端开发工程师", "company": "示例科技", "status": status, "changed_at": at}  # fmt: skip
    response = platform_post(client, "/platform/applications/status", body)
    assert response.status_code == 200, response.get_json()


def pushes(db):
    db.expire_all()
    found = list(db.scalars(select(Notification).order_by(Notification.id)))
    db.commit()
    return found


def only_push(db):
    (push,) = pushes(db)
    return push


def test_a_follower_gets_a_template_message_once(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    status_event(client, "to_communicate")
    totals = send_due(services)
    send_due(services)  # nothing left: nothing sent again
    assert totals.sent == 1
    (call,) = sandbox.calls(TEMPLATE)
    assert call.body["touser"] == person.oa.openid and call.body["template_id"] == OA_TID
    assert call.body["data"]["thing1"] == {"value": "后端开发工程师"}
    assert call.body["data"]["phrase3"] == {"value": "待沟通"}
    assert call.body["miniprogram"] == {"appid": MP["appid"], "pagepath": "pages/app?id=a1"}
    push = only_push(db)
    assert (push.status, push.channel, push.sent_app) == ("sent", "template", "oa")
    assert push.msgid == str(sandbox.inbox(OA["appid"], person.oa.openid)[0].body["msgid"])
    assert explain.explain(push).startswith("已通过公众号模板消息发送（2026-11-30 12:00")


def test_without_following_a_subscribe_authorisation_is_used_once(client, services, db, sandbox, noon):
    person = Person(db, sandbox, follows=False)
    person.grant()
    status_event(client, "interview", event="e1", application="a1")
    status_event(client, "interview", event="e2", application="a2")
    send_due(services)
    (call,) = sandbox.calls(SUBSCRIBE)
    assert call.body["touser"] == person.mp.openid and call.body["page"] == "pages/app?id=a1"
    first, second = pushes(db)
    assert (first.status, first.channel) == ("sent", "subscribe")
    assert (second.status, second.reason) == ("skipped", "no_channel")
    assert "没有小程序订阅授权" in explain.explain(second) and "未关注公众号" in explain.explain(second)
    assert sandbox.calls(TEMPLATE) == []


def test_43004_marks_the_follower_gone_and_tries_the_next_channel(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    person.grant()
    sandbox.set_follower(OA["appid"], person.oa.openid, subscribed=False)  # unfollowed; we missed the event
    status_event(client)
    send_due(services)
    assert [c.errcode for c in sandbox.calls(TEMPLATE)] == [43004]
    assert len(sandbox.calls(SUBSCRIBE)) == 1
    push = only_push(db)
    assert (push.status, push.channel, push.ended_channels) == ("sent", "subscribe", "template:43004")
    db.expire_all()
    assert db.get(Identity, person.oa.id).subscribed is False


def test_43101_spends_the_authorisation_and_ends_without_a_channel(client, services, db, sandbox, noon):
    person = Person(db, sandbox, follows=False)
    person.grant(in_sandbox=False)  # we think they allowed it; WeChat disagrees
    status_event(client)
    send_due(services)
    assert [c.errcode for c in sandbox.calls(SUBSCRIBE)] == [43101]
    push = only_push(db)
    assert (push.status, push.reason) == ("skipped", "no_channel")
    assert "43101" in push.detail
    assert grants.unused_grants(db, person.mp.id) == {}
    db.commit()


@pytest.mark.parametrize(("errcode", "http_status"), [(-1, None), (None, 502)])
def test_a_transient_error_is_retried_with_backoff(client, services, db, sandbox, noon, errcode, http_status):
    Person(db, sandbox)
    status_event(client)
    sandbox.inject(TEMPLATE, errcode=errcode, http_status=http_status, times=1)
    send_due(services)
    push = only_push(db)
    assert (push.status, push.reason, push.attempts) == ("pending", "retrying", 1)
    assert NOON + timedelta(seconds=10) <= push.next_attempt_at <= NOON + timedelta(seconds=12)
    assert "再试" in explain.explain(push)
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == 1  # not due yet
    noon.advance(seconds=13)
    send_due(services)
    push = only_push(db)
    assert (push.status, push.attempts, push.errcode) == ("sent", 2, None)
    assert len(sandbox.calls(TEMPLATE)) == 2


def test_45011_waits_at_least_a_minute_and_retries_end_after_max_attempts(
    client, services, db, sandbox, noon
):
    Person(db, sandbox)
    status_event(client, "interview")  # urgent: the quiet hours do not get in the way
    sandbox.inject(TEMPLATE, errcode=45011, times=None)
    send_due(services)
    push = only_push(db)
    assert push.next_attempt_at >= NOON + timedelta(seconds=60)
    for _ in range(10):
        noon.advance(hours=2)
        send_due(services)
    push = only_push(db)
    assert (push.status, push.reason, push.errcode, push.attempts) == ("failed", "gave_up", 45011, 8)
    assert "45011" in explain.explain(push)


def test_an_unknown_error_ends_the_row_with_its_code(client, services, db, sandbox, noon):
    Person(db, sandbox)
    status_event(client)
    sandbox.inject(TEMPLATE, errcode=47003, times=1)
    send_due(services)
    push = only_push(db)
    assert (push.status, push.reason, push.errcode) == ("failed", "wechat_error", 47003)
    assert "47003" in explain.explain(push)


def test_45009_pauses_the_template_api_until_midnight_in_shanghai(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    Person(db, sandbox, n=2)
    person.grant()
    status_event(client, n=1, event="e1", application="a1")
    sandbox.inject(TEMPLATE, errcode=45009, times=1)
    send_due(services)
    midnight = datetime(2026, 11, 30, 16, 0)  # 00:00 on 12-01 in Shanghai
    db.expire_all()
    assert db.get(ApiPause, ("oa", TEMPLATE)).until == midnight
    db.commit()
    first = only_push(db)
    assert (first.status, first.channel) == ("sent", "subscribe")  # the next channel
    status_event(client, n=2, event="e2", application="a2")  # no other channel: waits for the pause to end
    send_due(services)
    waiting = pushes(db)[1]
    assert (waiting.status, waiting.reason, waiting.next_attempt_at) == ("pending", "paused", midnight)
    assert "额度已用完" in explain.explain(waiting)
    assert len(sandbox.calls(TEMPLATE)) == 1
    noon.set(midnight + timedelta(hours=8, minutes=1))  # 08:01 in Shanghai, after the quiet hours
    send_due(services)
    assert [(p.status, p.channel) for p in pushes(db)] == [("sent", "subscribe"), ("sent", "template")]


def test_the_quiet_hours_hold_all_but_interview_invitations(client, services, db, sandbox, clock):
    Person(db, sandbox)
    clock.set(datetime(2026, 11, 30, 15, 0))  # 23:00 in Shanghai
    status_event(client, "to_communicate", event="e1", application="a1")
    status_event(client, "interview", event="e2", application="a2")
    send_due(services)
    by_key = {p.content["template"]["key"]: p for p in pushes(db)}
    assert by_key["status_interview"].status == "sent"
    held = by_key["status_to_communicate"]
    assert (held.status, held.reason, held.next_attempt_at) == (
        "held",
        "quiet_hours",
        datetime(2026, 12, 1, 0, 0),
    )
    assert explain.explain(held) == "免打扰时段，将于 2026-12-01 08:00 发送"
    clock.set(datetime(2026, 12, 1, 0, 0))
    send_due(services)
    assert {p.status for p in pushes(db)} == {"sent"}
    assert len([c for c in sandbox.calls(TEMPLATE) if c.errcode == 0]) == 2


def test_the_daily_cap_holds_the_rest_until_the_next_day(client, services, db, sandbox, noon):
    Person(db, sandbox)
    for i in range(5):
        status_event(client, "viewed", event=f"e{i}", application=f"a{i}")
    status_event(client, "interview", event="urgent", application="a9")
    send_due(services)
    found = pushes(db)
    sent = [p for p in found if p.status == "sent"]
    held = [p for p in found if p.status == "held"]
    assert len(sent) == 4 and len(held) == 2  # 3 capped + the urgent invitation; 2 wait
    assert all(p.reason == "daily_cap" and p.next_attempt_at == datetime(2026, 11, 30, 16, 0) for p in held)
    assert "今日提醒已达上限" in explain.explain(held[0])
    noon.advance(days=1)
    send_due(services)
    assert {p.status for p in pushes(db)} == {"sent"}


def test_the_reminder_choice_filters_pushes_and_a_change_stops_unsent_ones(
    client, services, db, sandbox, noon
):
    person = Person(db, sandbox)
    applications.set_reminder_choice(db, person.account.id, "key", channel="miniprogram")
    db.commit()
    status_event(client, "viewed", event="e1", application="a1")
    status_event(client, "interview", event="e2", application="a2")
    viewed, interview = pushes(db)
    assert (viewed.status, viewed.reason) == ("skipped", "preference")
    assert interview.status == "pending"
    assert applications.set_reminder_choice(db, person.account.id, "off", channel="official_account") == 1
    db.commit()
    send_due(services)
    assert sandbox.calls(TEMPLATE) == []
    assert {(p.status, p.reason) for p in pushes(db)} == {("skipped", "preference")}
    assert explain.explain(pushes(db)[1]) == "未发送：按提醒设置不发送"


def test_a_customer_service_message_goes_while_the_window_is_open(services, db, sandbox, noon):
    person = Person(db, sandbox)
    reply_window.record_trigger(db, person.oa.id, "message")
    db.commit()
    sandbox.touch(OA["appid"], person.oa.openid, "message")
    sandbox.inject(CUSTOM, errcode=45047, times=1)  # WeChat counts differently: the first one is refused
    for i in range(2):
        enqueue(db, purpose="ticket_reply", identity_id=person.oa.id, content=PushContent(text=f"您好 {i}"),
                channels=("custom",), urgent=True)  # fmt: skip
        db.commit()
        send_due(services)
    first, second = pushes(db)
    assert (first.status, first.reason, first.ended_channels) == ("skipped", "no_channel", "custom:45047")
    assert (second.status, second.channel) == ("sent", "custom")
    assert sandbox.inbox(OA["appid"], person.oa.openid)[0].body["text"] == {"content": "您好 1"}
    assert reply_window.status(db, person.oa.id).remaining == 3
    db.commit()


def test_a_crashed_senders_rows_come_back_after_the_lease(client, services, db, sandbox, noon):
    from wxbot.db import session_scope
    from wxbot.push import results, sender

    Person(db, sandbox)
    status_event(client)
    with session_scope(services.session_factory) as session:
        claim = sender.claim(session, services.settings, limit=10)  # ... and the sender dies here
    assert len(claim.sends) == 1
    assert send_due(services).sent == 0
    noon.advance(seconds=services.settings.notify.lease_seconds + 1)
    assert send_due(services).sent == 1
    with session_scope(services.session_factory) as session:  # the dead sender wakes up: too late
        late = results.record(
            session, services.settings, claim.token, [results.Result(claim.sends[0], {"msgid": 1})]
        )
    assert late.lost == 1
    assert len(sandbox.calls(TEMPLATE)) == 1 and only_push(db).status == "sent"


def test_an_expired_token_is_refreshed_inside_the_facade(client, services, db, sandbox, noon):
    Person(db, sandbox)
    status_event(client)
    send_due(services)
    status_event(client, "interview", event="e2")
    sandbox.expire_tokens(OA["appid"])
    send_due(services)
    assert [c.errcode for c in sandbox.calls(TEMPLATE)] == [0, 42001, 0]
    assert [p.status for p in pushes(db)] == ["sent", "sent"]


def test_grants_are_counted_once_per_tap_and_revoked_by_the_user(db, services, sandbox, noon):
    person = Person(db, sandbox, in_sandbox=False)
    grants.record_grant(db, person.mp.id, MP_TID, source="client")
    grants.record_grant(db, person.mp.id, MP_TID, source="event")  # the same tap, reported by WeChat
    grants.record_grant(db, person.mp.id, MP_TID, source="event")  # a second tap
    assert grants.unused_grants(db, person.mp.id) == {MP_TID: 2}
    assert grants.revoke_grants(db, person.mp.id, MP_TID) == 2
    assert grants.unused_grants(db, person.mp.id) == {}
    assert db.scalars(select(SubscribeGrant)).all()[0].client_reported_at is not None
    db.commit()


def test_concurrent_senders_in_one_process_send_each_push_once(services, db, sandbox, noon):
    import threading
    from collections import Counter

    from sqlalchemy import insert

    rows = [{"app_name": "oa", "appid": OA["appid"], "kind": "official", "openid": f"o-{i}", "subscribed": True}
            for i in range(60)]  # fmt: skip
    db.execute(insert(Identity), rows)
    for identity in db.scalars(select(Identity)):
        sandbox.set_follower(OA["appid"], identity.openid)
        content = PushContent(template=TemplateContent("status_viewed", {"job_title": "工程师", "company": "示例",
                                                                        "status": "被查看", "changed_at": "12:00"}))  # fmt: skip
        enqueue(db, purpose="test", identity_id=identity.id, content=content, channels=("template",),
                urgent=True)  # fmt: skip
    db.commit()
    services.settings.notify.batch_size = 7
    sandbox.inject(TEMPLATE, latency=0.005, times=None)
    threads = [threading.Thread(target=send_due, args=(services,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    received = Counter(c.body["touser"] for c in sandbox.calls(TEMPLATE) if c.errcode == 0)
    assert len(received) == 60 and set(received.values()) == {1}
    assert {p.status for p in pushes(db)} == {"sent"}
