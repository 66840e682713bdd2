"""Event pushes all the way to WeChat: through the outbox and the sender, as the sandbox records them."""

from __future__ import annotations

from datetime import datetime

import pytest

from jobs.campus import send_event_reminders
from jobs.sender import send_due
from tests.conftest import MP, OA
from tests.events_helpers import answers, event_payload
from tests.helpers import platform_post
from wxbot.campus import signups
from wxbot.models import Account, Identity

TEMPLATE = "/cgi-bin/message/template/send"
OA_TID = "oa-event-tid"
NOON = datetime(2026, 11, 30, 4, 0)  # 12:00 in Shanghai: outside the quiet hours
FIELDS = {"thing1": "{title}", "time2": "{when}", "thing3": "{where}"}


@pytest.fixture
def config_dict(config_dict):
    config_dict["notify"] = {
        "templates": {
            key: {
                "oa": {
                    "template_id": OA_TID,
                    "fields": FIELDS,
                    "miniprogram": "mp",
                    "page": "pages/events/detail?event_id={event_id}",
                }
            }  # fmt: skip
            for key in ("event_promoted", "event_moved", "event_cancelled", "event_reminder")
        }
    }
    return config_dict


def follower(db, sandbox, n):
    """A student who follows the official account and signed in to the mini program (one unionid)."""
    account = Account(platform_account_id=f"acc-{n}")
    db.add(account)
    db.flush()
    oa = Identity(app_name="oa", appid=OA["appid"], kind="official", openid=f"oa-open-{n}", unionid=f"u-{n}",
                  subscribed=True)  # fmt: skip
    mp = Identity(app_name="mp", appid=MP["appid"], kind="miniprogram", openid=f"mp-open-{n}", unionid=f"u-{n}",
                  account_id=account.id)  # fmt: skip
    db.add_all([oa, mp])
    db.commit()
    sandbox.set_follower(OA["appid"], oa.openid, subscribed=True, unionid=f"u-{n}")
    return account.id, mp.id, oa.openid


def sign(db, services, person):
    row = signups.signup(db, services.pii, event_id="ev-1", account_id=person[0], identity_id=person[1],
                        answers=answers(), consent_event_data=True)  # fmt: skip
    db.commit()
    return row


def test_the_promoted_student_gets_a_template_message_into_the_mini_program(
    client, services, db, sandbox, clock
):
    clock.set(NOON)
    assert platform_post(client, "/platform/events", event_payload(capacity=1)).status_code == 201
    first, second = follower(db, sandbox, 1), follower(db, sandbox, 2)
    sign(db, services, first)
    sign(db, services, second)
    signups.cancel_signup(db, event_id="ev-1", account_id=first[0])
    db.commit()
    assert send_due(services).sent == 1
    (call,) = sandbox.calls(TEMPLATE)
    assert call.body["touser"] == second[2] and call.body["template_id"] == OA_TID
    assert call.body["data"]["thing1"]["value"].startswith("字节跳动")
    assert call.body["data"]["time2"]["value"].startswith("2026-12-07 ")  # Beijing time
    assert call.body["miniprogram"] == {"appid": MP["appid"], "pagepath": "pages/events/detail?event_id=ev-1"}


def test_a_move_then_a_cancellation_sends_only_the_cancellation(client, services, db, sandbox, clock):
    clock.set(NOON)
    platform_post(client, "/platform/events", event_payload(capacity=5))
    person = follower(db, sandbox, 1)
    sign(db, services, person)
    platform_post(client, "/platform/events", event_payload(capacity=5, venue="新体育馆"))
    platform_post(client, "/platform/events", event_payload(capacity=5, venue="新体育馆", status="cancelled"))
    assert send_due(services).sent == 1  # the unsent move was superseded by the cancellation
    (call,) = sandbox.calls(TEMPLATE)
    assert call.body["touser"] == person[2]


def test_the_reminder_reaches_wechat_once(client, services, db, sandbox, clock):
    clock.set(NOON)
    platform_post(client, "/platform/events", event_payload(capacity=5, days_ahead=2))
    sign(db, services, follower(db, sandbox, 1))
    clock.advance(hours=25)  # 23 h before the start, 11:00 the next day in Beijing
    assert send_event_reminders(services) == 1
    assert send_event_reminders(services) == 0
    send_due(services)
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == 1
