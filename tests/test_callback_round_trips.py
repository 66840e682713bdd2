"""What one signed delivery costs in round trips to the database and to Redis (wxbot.roundtrips), through
the callback as WeChat calls it. SQLite's BEGIN IMMEDIATE (wxbot.db) is a statement MySQL/MariaDB does not
need (their transaction starts with the first statement), so it is counted on top there."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.wechat_helpers import Follower
from wxbot import clock as wxclock
from wxbot.handlers.replies import render_reply_text
from wxbot.models import Conversation, Identity, InboundMessage, Notification
from wxbot.roundtrips import RoundTrips, counted


def _begin(services) -> int:
    return 1 if services.engine.dialect.name == "sqlite" else 0


def _redis_bound(services) -> int:
    return 1 if services.settings.redis.url else 0


def _delivered(services, send) -> tuple[RoundTrips, object]:
    with counted(services.engine) as trips:
        reply = send()
    return trips, reply


@pytest.fixture
def follower(client):
    follower = Follower(client)
    assert follower.follow()  # the identity exists: what follows is the steady state
    follower.send_text("你好")  # the pool's connections are open
    return follower


def test_a_text_message_costs_at_most_four_database_round_trips_and_one_to_redis(follower, services):
    trips, reply = _delivered(services, lambda: follower.send_text("帮助"))
    assert reply.content == render_reply_text("help")
    # the identity's state (one statement), what the delivery reads (one), the message with its reply, COMMIT
    assert trips.database <= 4 + _begin(services)
    assert trips.redis <= _redis_bound(services)


def test_a_menu_click_costs_the_same_as_a_text_message(follower, services):
    trips, _ = _delivered(services, lambda: follower.click("UNKNOWN_KEY"))
    assert trips.database <= 4 + _begin(services)
    assert trips.redis <= _redis_bound(services)


def test_a_repeated_delivery_still_gets_the_first_reply(follower, services):
    first = follower.send_text("帮助")
    trips, again = _delivered(services, follower.redeliver)
    assert again.content == first.content
    assert trips.database <= 4 + _begin(services)


def _sent_template(db, follower, msgid: str, channel: str = "template") -> int:
    identity = db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)).one()
    push = Notification(purpose="application_status", identity_id=identity.id, content={"text": "x"},
                        channels=channel, channel=channel, status="sent", sent_app="oa", msgid=msgid)  # fmt: skip
    db.add(push)
    db.commit()
    return push.id


def _push(db, push_id: int) -> Notification:
    db.expire_all()
    push = db.get_one(Notification, push_id)
    db.rollback()
    return push


def _stored(db, event: str) -> int:
    count = db.scalar(
        sa.select(sa.func.count()).select_from(InboundMessage).where(InboundMessage.event == event)
    )
    db.rollback()
    return count


def test_a_template_report_is_stored_and_applied_in_three_round_trips_without_redis(follower, services, db):
    push_id = _sent_template(db, follower, "700001")
    report = lambda: follower.event("TEMPLATESENDJOBFINISH", MsgID="700001", Status="failed:user block")  # noqa: E731
    trips, reply = _delivered(services, report)
    assert reply.status == 200 and not reply  # answered with nothing
    # the message with its identity looked up in the same statement, the outbox row, COMMIT
    assert trips.database <= 3 + _begin(services) and trips.redis == 0
    push = _push(db, push_id)
    assert (push.status, push.reason) == ("failed", "blocked_by_user")
    assert _stored(db, "templatesendjobfinish") == 1
    again = follower.redeliver()
    assert again.status == 200 and not again
    assert _stored(db, "templatesendjobfinish") == 1


def test_a_subscribe_message_report_is_applied_to_its_outbox_row(follower, services, db):
    delivered = _sent_template(db, follower, "800001", "oa_subscribe")
    refused = _sent_template(db, follower, "800002", "oa_subscribe")
    items = {"List": {"TemplateId": "tid", "MsgID": "800001", "ErrorCode": "0", "ErrorStatus": "success"}}
    follower.event("subscribe_msg_sent_event", SubscribeMsgSentEvent=items)
    items = {"List": {"TemplateId": "tid", "MsgID": "800002", "ErrorCode": "43101", "ErrorStatus": "refused"}}
    follower.event("subscribe_msg_sent_event", SubscribeMsgSentEvent=items)
    assert _push(db, delivered).status == "delivered" and _push(db, delivered).delivered_at is not None
    push = _push(db, refused)
    assert (push.status, push.errcode, push.detail) == ("failed", 43101, "oa_subscribe: refused")
    assert _stored(db, "subscribe_msg_sent_event") == 2


def test_a_report_from_a_follower_not_known_yet_is_stored_the_ordinary_way(client, services, db):
    stranger = Follower(client)
    assert stranger.event("MASSSENDJOBFINISH", MsgID="1", Status="send success").status == 200
    assert _stored(db, "masssendjobfinish") == 1


@pytest.fixture
def mysqlclient(backend, config_dict):
    """The C driver instead of PyMySQL (database.url mysql+mysqldb://), where MariaDB and mysqlclient are."""
    if backend != "production":
        pytest.skip("mysqlclient is a MariaDB driver")
    pytest.importorskip("MySQLdb")
    url = config_dict["database"]["url"]
    config_dict["database"]["url"] = url.replace("mysql+pymysql://", "mysql+mysqldb://")


def test_the_mysqlclient_driver_is_an_option_with_the_same_round_trips(mysqlclient, client, services):
    assert services.engine.driver == "mysqldb"
    follower = Follower(client)
    follower.follow()
    follower.send_text("你好")
    trips, reply = _delivered(services, lambda: follower.send_text("帮助"))
    assert reply.content == render_reply_text("help")
    assert trips.database <= 4 and trips.redis <= 1


def test_two_reports_to_one_follower_in_the_same_second_are_both_applied(follower, db):
    first, second = _sent_template(db, follower, "900001"), _sent_template(db, follower, "900002")
    fields = follower.fields(MsgType="event", Event="TEMPLATESENDJOBFINISH", MsgID="900001", Status="success")
    follower.send(fields)
    follower.send({**fields, "MsgID": "900002"})
    follower.send(fields)  # WeChat's retry of the first
    assert _push(db, first).status == _push(db, second).status == "delivered"
    assert _stored(db, "templatesendjobfinish") == 2


def _resolved_long_ago(db, follower) -> None:
    identity = db.scalars(sa.select(Identity).where(Identity.openid == follower.openid)).one()
    db.add(Conversation(identity_id=identity.id, state="resolved", created_at=wxclock.now() - timedelta(days=9),
                        resolved_at=wxclock.now() - timedelta(days=8)))  # fmt: skip
    db.commit()


@pytest.mark.parametrize("history", ["none", "resolved_long_ago"])
def test_a_message_no_keyword_takes_costs_the_same_when_nothing_waits_to_be_reopened(
    follower, services, db, history
):
    if history == "resolved_long_ago":  # outside [console] reopen_hours: the default reply, asked for no more
        _resolved_long_ago(db, follower)
    trips, reply = _delivered(services, lambda: follower.send_text("随便说点什么"))
    assert reply.content == render_reply_text("default")
    assert trips.database <= 4 + _begin(services)
    assert trips.redis <= _redis_bound(services)
