"""The seeker's side in the mini program: reminder choice, applications with each push's answer, authorisations."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.conftest import MP
from tests.helpers import platform_post
from tests.mp_helpers import assert_error, bearer
from tests.openapi_check import openapi_checked  # noqa: F401
from wxbot.identity import identities, logins
from wxbot.models import Account, Consent, Notification

pytestmark = pytest.mark.usefixtures("openapi_checked")

MP_TID = "mp-status-tid"
NOON = datetime(2026, 11, 30, 4, 0)  # 12:00 in Shanghai


@pytest.fixture
def config_dict(config_dict):
    fields = {"thing1": "{job_title}", "phrase2": "{status}"}
    config_dict["notify"] = {
        "templates": {
            "status_interview": {"mp": {"template_id": MP_TID, "fields": fields}},
            "status_to_communicate": {"mp": {"template_id": MP_TID, "fields": fields}},
        }
    }
    return config_dict


def seeker(db, *, linked=True, n=1):
    identity = identities.upsert_identity(db, app_name="mp", appid=MP["appid"], kind="miniprogram",
                                          openid=f"o-mp-{n}", unionid=None)  # fmt: skip
    if linked:
        account = Account(platform_account_id=f"acc-{n}")
        db.add(account)
        db.flush()
        identity.account_id = account.id
    token, _ = logins.start(db, identity, ttl_seconds=3600)
    db.commit()
    return identity, bearer(token)


def status(client, status, event, at, application="a1"):
    body = {"event_id": event, "account_id": "acc-1", "application_id": application, "job_title": "数据分析师",
            "company": "示例科技", "status": status, "changed_at": at}  # fmt: skip
    assert platform_post(client, "/platform/applications/status", body).status_code == 200


def test_the_reminder_choice_is_read_and_changed(client, db):
    _, auth = seeker(db)
    assert client.get("/mp/mp/preferences", headers=auth).get_json() == {
        "reminders": "all",
        "choices": ["all", "key", "off"],
        "subscribe_templates": [{"status": "to_communicate", "template_id": MP_TID},
                                {"status": "interview", "template_id": MP_TID}],
    }  # fmt: skip
    answer = client.put("/mp/mp/preferences", json={"reminders": "key"}, headers=auth).get_json()
    assert (answer["reminders"], answer["stopped"]) == ("key", 0)
    assert client.get("/mp/mp/me", headers=auth).get_json()["preferences"] == {"reminders": "key"}
    consents = db.scalars(select(Consent).where(Consent.kind == "status_reminders")).all()
    assert [(c.scope, c.channel, c.withdrawn_at is None) for c in consents] == [("", "miniprogram", True)]
    db.rollback()


@pytest.mark.parametrize("value", ["none", None, 3, ["all"]])
def test_a_bad_choice_is_a_400(client, db, value):
    _, auth = seeker(db)
    assert_error(client.put("/mp/mp/preferences", json={"reminders": value}, headers=auth), 400,
                 "invalid_field", "reminders")  # fmt: skip


def test_preferences_and_applications_need_a_linked_account(client, db):
    _, auth = seeker(db, linked=False)
    assert_error(client.get("/mp/mp/preferences", headers=auth), 403, "not_linked")
    assert_error(client.get("/mp/mp/applications", headers=auth), 403, "not_linked")
    assert_error(client.get("/mp/mp/applications"), 401, "invalid_token")


def test_turning_reminders_off_stops_unsent_pushes_at_once(client, db, clock):
    clock.set(NOON)
    _, auth = seeker(db)
    status(client, "interview", "e1", "2026-11-30T11:00:00+08:00")
    answer = client.put("/mp/mp/preferences", json={"reminders": "off"}, headers=auth).get_json()
    assert answer["stopped"] == 1
    push = db.scalars(select(Notification)).one()
    assert (push.status, push.reason) == ("skipped", "preference")
    db.rollback()


def test_withdrawing_the_consent_anywhere_turns_reminders_off(client, db, clock):
    from wxbot.privacy import consent

    clock.set(NOON)
    identity, auth = seeker(db)
    status(client, "interview", "e1", "2026-11-30T11:00:00+08:00")
    consent.record(db, kind="status_reminders", channel="miniprogram", identity_id=identity.id)
    consent.withdraw(db, kind="status_reminders", identity_id=identity.id)  # e.g. from the privacy pages
    db.commit()
    assert client.get("/mp/mp/preferences", headers=auth).get_json()["reminders"] == "off"
    push = db.scalars(select(Notification)).one()
    assert (push.status, push.reason) == ("skipped", "preference")
    db.rollback()


def test_applications_show_history_and_why_each_push_went_or_not(client, db, sandbox, services, clock):
    clock.set(NOON)
    identity, auth = seeker(db)
    sandbox.set_follower(MP["appid"], identity.openid)
    sandbox.grant_subscription(MP["appid"], identity.openid, MP_TID)
    granted = client.post("/mp/mp/subscriptions", json={"results": {MP_TID: "accept"}}, headers=auth)
    assert granted.get_json() == {"authorisations": {MP_TID: 1}}
    status(client, "to_communicate", "e1", "2026-11-30T10:00:00+08:00")
    send_due(services)
    status(client, "interview", "e2", "2026-11-30T11:00:00+08:00")
    status(client, "viewed", "e3", "2026-11-30T09:00:00+08:00")  # older: recorded, not pushed
    send_due(services)
    (application,) = client.get("/mp/mp/applications", headers=auth).get_json()["applications"]
    assert (application["status"], application["status_label"]) == ("interview", "面试邀请")
    history = [(h["status"], h["push"]["outcome"], h["push"]["reason"]) for h in application["history"]]
    assert history == [("interview", "skipped", "no_channel"), ("to_communicate", "sent", None),
                       ("viewed", "not_pushed", "stale")]  # fmt: skip
    sent = application["history"][1]["push"]
    assert sent["channel"] == "subscribe" and sent["at"] == "2026-11-30T12:00:00+08:00"
    assert sent["explanation"] == "已通过小程序订阅消息发送（2026-11-30 12:00）"
    assert "没有小程序订阅授权" in application["history"][0]["push"]["explanation"]


def test_subscription_results_are_checked_and_ban_revokes(client, db):
    _, auth = seeker(db, linked=False)
    assert_error(client.post("/mp/mp/subscriptions", json={"results": {"other": "accept"}}, headers=auth),
                 400, "invalid_field", "results")  # fmt: skip
    assert_error(client.post("/mp/mp/subscriptions", json={"results": {MP_TID: "yes"}}, headers=auth),
                 400, "invalid_field", "results")  # fmt: skip
    assert_error(client.post("/mp/mp/subscriptions", json={"results": []}, headers=auth),
                 400, "invalid_field", "results")  # fmt: skip
    for _ in range(2):
        client.post("/mp/mp/subscriptions", json={"results": {MP_TID: "accept"}}, headers=auth)
    answer = client.post("/mp/mp/subscriptions", json={"results": {MP_TID: "ban"}}, headers=auth)
    assert answer.get_json() == {"authorisations": {MP_TID: 0}}
