"""订阅通知 on the official account (message/subscribe/bizsend) as a channel of the outbox: authorisations
learnt from the account's own subscribe events (signed callbacks), one-time and long-term templates, the
channel order per status, WeChat's errors and reports, and what the sandbox WeChat received."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.conftest import MP, OA, base_config
from tests.mp_helpers import bearer
from tests.openapi_check import openapi_checked  # noqa: F401  (a fixture: every /mp answer checked against its schema)
from tests.test_sandbox_page import live  # noqa: F401  (a fixture: the app served with the sandbox mounted)
from tests.test_sender import NOON, Person, pushes, status_event
from tests.wechat_helpers import Follower, xml_of
from wxbot.config import ConfigError, settings_from_dict
from wxbot.identity import logins
from wxbot.models import Identity, Notification
from wxbot.push import explain, grants
from wxbot.wechat.errors import REFUSED

BIZSEND = "/cgi-bin/message/subscribe/bizsend"
TEMPLATE = "/cgi-bin/message/template/send"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
ONE_TIME = "oa-notice-once"
LONG_TERM = "oa-notice-always"
FIELDS = {"thing1": "{job_title}", "thing2": "{company}", "phrase3": "{status}", "time4": "{changed_at}"}
MP_TID = "mp-status-tid"
TIMEOUT = 1.0  # seconds: WeChat's answer is waited for this long


@pytest.fixture
def config_dict(config_dict):
    statuses = ("delivered", "viewed", "to_communicate", "interview", "rejected", "hired")
    config_dict["notify"] = {
        "templates": {f"status_{s}": {"oa": {"template_id": "oa-tmpl", "fields": FIELDS},
                                      "mp": {"template_id": MP_TID, "fields": FIELDS}} for s in statuses},
        "notices": {f"status_{s}": {"oa": {"template_id": LONG_TERM if s == "hired" else ONE_TIME, "fields": FIELDS,
                                           "page": "pages/app?id={application_id}", "miniprogram": "mp",
                                           "long_term": s == "hired"}} for s in statuses},
        # interview invitations try the template message first; other statuses go as 订阅通知 first
        "status_channels": {s: ["oa_subscribe", "subscribe"] for s in statuses if s != "interview"},
        "quiet_hours_start": "", "quiet_hours_end": "", "daily_cap": 0,
    }  # fmt: skip
    config_dict["wechat"]["timeout_seconds"] = TIMEOUT
    return config_dict


@pytest.fixture
def noon(clock):
    clock.set(NOON)
    return clock


def subscribe_event(client, openid, event, wrapper, items):
    """A subscribe event with one <List> per item: a signed callback, as WeChat delivers it."""
    follower = Follower(client, openid=openid)
    lists = "".join(
        "<List>" + xml_of(i).removeprefix("<xml>").removesuffix("</xml>") + "</List>" for i in items
    )
    head = xml_of(follower.fields(MsgType="event", Event=event))
    assert follower.send(head.replace("</xml>", f"<{wrapper}>{lists}</{wrapper}></xml>")).status == 200


def popup(client, person, answers, openid=None):
    """The follower answered a 订阅通知 popup in an article."""
    items = [{"TemplateId": tid, "SubscribeStatusString": answer, "PopupScene": 2} for tid, answer in answers]
    subscribe_event(
        client, openid or person.oa.openid, "subscribe_msg_popup_event", "SubscribeMsgPopupEvent", items
    )


def oa_grants(db, person):
    found = grants.unused_grants(db, person.oa.id)
    db.commit()
    return found


def test_an_accepted_one_time_notice_goes_once_through_bizsend_with_its_rules(
    client, services, db, sandbox, noon
):
    person = Person(db, sandbox)
    popup(client, person, [(ONE_TIME, "accept"), (LONG_TERM, "reject"), ("not-ours", "accept")])
    assert oa_grants(db, person) == {ONE_TIME: 1}
    sandbox.grant_subscription(OA["appid"], person.oa.openid, ONE_TIME)
    status_event(client, "viewed", event="e1", application="a1")
    status_event(client, "rejected", event="e2", application="a2", at="2026-11-30T11:30:00+08:00")
    send_due(services)

    (call,) = sandbox.calls(BIZSEND)
    assert call.body["touser"] == person.oa.openid and call.body["template_id"] == ONE_TIME
    assert call.body["miniprogram"] == {"appid": MP["appid"], "pagepath": "pages/app?id=a1"}
    assert "client_msg_id" not in call.body  # bizsend documents none
    assert call.body["data"]["phrase3"] == {"value": "被查看"} and call.body["data"]["thing1"] == {
        "value": "后端开发工程师"
    }
    (delivered,) = [d for d in sandbox.inbox(OA["appid"], person.oa.openid) if d.kind == "notice"]
    first, second = pushes(db)
    assert (first.status, first.channel, first.sent_app) == ("sent", "oa_subscribe", "oa")
    assert explain.explain(first).startswith("已通过公众号订阅通知发送")
    assert first.msgid == str(delivered.body["msgid"])
    # the grant is spent: the second push has no 订阅通知 left, nor a mini-program authorisation
    assert (second.status, second.reason) == ("skipped", "no_channel")
    assert "公众号订阅通知：没有订阅通知授权" in explain.explain(second)
    assert sandbox.calls(TEMPLATE) == [] and oa_grants(db, person) == {}


def test_the_channel_order_is_per_status(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    popup(client, person, [(ONE_TIME, "accept")])
    sandbox.grant_subscription(OA["appid"], person.oa.openid, ONE_TIME)
    status_event(client, "interview")  # template message first
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == 1 and sandbox.calls(BIZSEND) == []
    (push,) = pushes(db)
    assert push.channel_list() == ["template", "oa_subscribe", "subscribe"] and push.channel == "template"
    assert oa_grants(db, person) == {ONE_TIME: 1}  # not spent


def test_43101_spends_the_grant_and_the_next_channel_is_tried(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    person.grant()  # a mini-program authorisation, in WeChat too
    popup(client, person, [(ONE_TIME, "accept"), (ONE_TIME, "accept")])  # we count two; WeChat has none
    assert oa_grants(db, person) == {ONE_TIME: 2}
    status_event(client, "viewed")
    send_due(services)
    assert [c.errcode for c in sandbox.calls(BIZSEND)] == [REFUSED]
    assert len(sandbox.calls(SUBSCRIBE)) == 1
    (push,) = pushes(db)
    assert (push.status, push.channel, push.ended_channels) == ("sent", "subscribe", "oa_subscribe:43101")
    assert oa_grants(db, person) == {}  # WeChat says none are left: the other one is gone too


def test_a_long_term_notice_is_not_spent_until_the_follower_withdraws_it(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    popup(client, person, [(LONG_TERM, "accept")])
    popup(client, person, [(LONG_TERM, "accept")])  # accepted again: still one authorisation
    sandbox.grant_subscription(OA["appid"], person.oa.openid, LONG_TERM, long_term=True)
    for n in range(3):
        status_event(client, "hired", event=f"e{n}", application=f"a{n}")
    send_due(services)
    assert [c.errcode for c in sandbox.calls(BIZSEND)] == [0, 0, 0]
    assert oa_grants(db, person) == {LONG_TERM: 1}
    subscribe_event(client, person.oa.openid, "subscribe_msg_change_event", "SubscribeMsgChangeEvent",
                    [{"TemplateId": LONG_TERM, "SubscribeStatusString": "reject"}])  # fmt: skip
    assert oa_grants(db, person) == {}
    status_event(client, "hired", event="e9", application="a9")
    send_due(services)
    assert len(sandbox.calls(BIZSEND)) == 3
    assert pushes(db)[-1].reason == "no_channel"


def test_wechats_report_of_a_notice_closes_the_loop(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    Person(db, sandbox, n=2)
    for openid in (person.oa.openid, "oa-open-2"):
        popup(client, person, [(ONE_TIME, "accept")], openid=openid)
        sandbox.grant_subscription(OA["appid"], openid, ONE_TIME)
    status_event(client, "viewed")
    status_event(client, "viewed", n=2, event="e2", application="a2")
    send_due(services)
    first, second = pushes(db)
    ids = (first.id, second.id)
    reports = ((person.oa.openid, first.msgid, "0", "success"), ("oa-open-2", second.msgid, "10004", "failed:user block"))  # fmt: skip
    db.commit()
    for openid, msgid, code, status in reports:
        subscribe_event(client, openid, "subscribe_msg_sent_event", "SubscribeMsgSentEvent",
                        [{"TemplateId": ONE_TIME, "MsgID": msgid, "ErrorCode": code, "ErrorStatus": status}])  # fmt: skip
    by_id = {p.id: p for p in pushes(db)}
    assert (by_id[ids[0]].status, by_id[ids[0]].delivered_at is not None) == ("delivered", True)
    assert (by_id[ids[1]].status, by_id[ids[1]].reason) == ("failed", "blocked_by_user")
    assert explain.explain(by_id[ids[1]]) == "发送失败：用户已拒收公众号消息"


def test_a_notice_without_an_answer_is_not_sent_again(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    popup(client, person, [(ONE_TIME, "accept")])
    sandbox.grant_subscription(OA["appid"], person.oa.openid, ONE_TIME)
    status_event(client, "viewed")
    sandbox.inject(BIZSEND, latency=TIMEOUT * 3, answer_late=True)
    send_due(services)
    noon.advance(hours=1)
    send_due(services)
    assert len(sandbox.calls(BIZSEND)) == 1
    (push,) = pushes(db)
    assert (push.status, push.reason, push.channel) == ("unknown", "delivery_unknown", "oa_subscribe")


@pytest.mark.parametrize(
    ("notify", "where"),
    [
        ({"status_channels": {"ghosted": ["template"]}}, "notify.status_channels.ghosted"),
        ({"status_channels": {"viewed": ["template", "template"]}}, "notify.status_channels.viewed"),
        ({"status_channels": {"viewed": ["custom"]}}, "notify.status_channels.viewed"),
        ({"notices": {"status_viewed": {"mp": {"template_id": "x", "fields": FIELDS}}}}, "notify.notices.status_viewed.mp"),
        ({"notices": {"status_viewed": {"oa": {"template_id": "x", "fields": {"phrase1": "面试邀请通知"}}}}},
         "notify.notices.status_viewed.oa.fields.phrase1"),
        ({"templates": {"status_viewed": {"oa": {"template_id": "x", "fields": FIELDS, "long_term": True}}}},
         "notify.templates.status_viewed.oa.long_term"),
    ],
)  # fmt: skip
def test_bad_notice_settings_stop_start_up(tmp_path, notify, where):
    raw = base_config(tmp_path)
    raw["notify"] = notify
    with pytest.raises(ConfigError, match="^" + re.escape(where)):
        settings_from_dict(raw, env={})


def test_the_sandbox_sends_popup_change_and_sent_events(live):  # noqa: F811
    """The sandbox's own deliveries (signed, in the account's mode) teach the ledger as WeChat's do."""
    from wxbot.sandbox.callbacks import CallbackSender

    account = live.services.settings.official_account("oa")
    sender = CallbackSender(account, f"{live.url}/wechat/oa", "oa-open-live")
    assert sender.follow().status == 200
    assert sender.subscription_popup({ONE_TIME: "accept", LONG_TERM: "accept"}).status == 200
    with live.services.session_factory() as session:
        identity = session.scalars(select(Identity).where(Identity.openid == "oa-open-live")).one()
        assert grants.unused_grants(session, identity.id) == {ONE_TIME: 1, LONG_TERM: 1}
        session.commit()
    assert sender.subscription_change([ONE_TIME, LONG_TERM]).status == 200
    with live.services.session_factory() as session:
        assert grants.unused_grants(session, identity.id) == {}
        session.commit()
    assert sender.notice_sent(ONE_TIME, 12345).status == 200  # a report of a notice we never sent: ignored
    with live.services.session_factory() as session:
        assert session.scalars(select(Notification)).all() == []


def test_the_seeker_sees_in_the_mini_program_that_a_notice_carried_the_push(
    client,
    services,
    db,
    sandbox,
    noon,
    openapi_checked,  # noqa: F811
):
    person = Person(db, sandbox)
    popup(client, person, [(ONE_TIME, "accept")])
    sandbox.grant_subscription(OA["appid"], person.oa.openid, ONE_TIME)
    status_event(client, "viewed")
    send_due(services)
    token, _ = logins.start(db, db.get(Identity, person.mp.id), ttl_seconds=3600)
    db.commit()
    (application,) = client.get("/mp/mp/applications", headers=bearer(token)).get_json()["applications"]
    (change,) = application["history"]
    assert (change["push"]["outcome"], change["push"]["channel"]) == ("sent", "oa_subscribe")
    assert change["push"]["explanation"].startswith("已通过公众号订阅通知发送")


def test_a_notice_refused_as_unfollowed_tries_the_next_channel(client, services, db, sandbox, noon):
    person = Person(db, sandbox)
    person.grant()
    popup(client, person, [(ONE_TIME, "accept")])
    sandbox.grant_subscription(OA["appid"], person.oa.openid, ONE_TIME)
    sandbox.inject(BIZSEND, errcode=43004, times=1)
    status_event(client, "viewed")
    send_due(services)
    (push,) = pushes(db)
    assert (push.status, push.channel, push.ended_channels) == ("sent", "subscribe", "oa_subscribe:43004")
    db.expire_all()
    assert db.get(Identity, person.oa.id).subscribed is False
    db.commit()
