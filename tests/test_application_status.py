"""POST /platform/applications/status: validation, idempotency, stale and superseding changes, one transaction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.helpers import platform_post
from wxbot.applications import status_changes as applications
from wxbot.applications.statuses import STATUSES
from wxbot.models import Account, Application, Notification, StatusChange

PATH = "/platform/applications/status"


@pytest.fixture
def config_dict(config_dict):
    fields = {"thing1": "{job_title}", "phrase2": "{status}"}
    config_dict["notify"] = {"templates": {
        f"status_{status}": {"oa": {"template_id": "oa-tid", "fields": fields}} for status in STATUSES
    }}  # fmt: skip
    return config_dict


def event(**changes):
    body = {
        "event_id": "ev-1",
        "account_id": "acc-1",
        "application_id": "app-1",
        "job_title": "后端开发工程师",
        "company": "示例科技",
        "status": "viewed",
        "changed_at": "2026-11-28T10:00:00+08:00",
    }
    body.update(changes)
    return body


def count(db, model):
    db.expire_all()
    n = db.scalar(select(func.count()).select_from(model))
    db.commit()  # SQLite: a reader's open transaction would block the next request's writer
    return n


def rows(db, model):
    db.expire_all()
    found = list(db.scalars(select(model).order_by(model.id)))
    db.commit()
    return found


def test_a_status_change_is_stored_and_its_push_queued(client, db, clock):
    response = platform_post(client, PATH, event(status="to_communicate"))
    assert response.status_code == 200
    assert response.get_json() == {"event_id": "ev-1", "application_id": "app-1", "status": "to_communicate",
                                   "queued": True, "reason": None, "explanation": "排队等待发送"}  # fmt: skip
    application = rows(db, Application)[0]
    assert (application.status, application.job_title) == ("to_communicate", "后端开发工程师")
    assert rows(db, Account)[0].platform_account_id == "acc-1"
    push = rows(db, Notification)[0]
    assert push.status == "pending" and push.reminder == "key" and not push.urgent
    assert push.channel_list() == ["template", "oa_subscribe", "subscribe"]
    assert push.content["template"]["key"] == "status_to_communicate"
    assert push.content["template"]["data"]["status"] == "待沟通"
    assert push.content["template"]["data"]["changed_at"] == "2026年11月28日 10:00"


def test_an_interview_invitation_is_urgent_and_a_view_is_not_key(client, db, clock):
    platform_post(client, PATH, event(event_id="a", application_id="x", status="interview"))
    platform_post(client, PATH, event(event_id="b", application_id="y", status="viewed"))
    pushes = {n.content["template"]["key"]: n for n in rows(db, Notification)}
    assert pushes["status_interview"].urgent and pushes["status_interview"].reminder == "key"
    assert not pushes["status_viewed"].urgent and pushes["status_viewed"].reminder == "other"


def test_the_same_event_again_answers_the_same_and_stores_nothing(client, db, clock):
    first = platform_post(client, PATH, event())
    again = platform_post(client, PATH, event())
    assert again.status_code == first.status_code == 200
    assert again.get_json() == first.get_json()
    assert (count(db, StatusChange), count(db, Notification), count(db, Application)) == (1, 1, 1)


def test_the_same_event_id_with_another_body_is_a_conflict(client, db, clock):
    platform_post(client, PATH, event())
    response = platform_post(client, PATH, event(status="rejected"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert (count(db, StatusChange), count(db, Notification)) == (1, 1)
    assert rows(db, Application)[0].status == "viewed"


def test_an_older_change_is_recorded_and_not_pushed(client, db, clock):
    platform_post(
        client, PATH, event(event_id="new", status="interview", changed_at="2026-11-28T12:00:00+08:00")
    )
    response = platform_post(
        client, PATH, event(event_id="old", status="viewed", changed_at="2026-11-28T03:00:00Z")
    )  # 11:00 in Shanghai
    assert response.get_json()["queued"] is False and response.get_json()["reason"] == "stale"
    assert response.get_json()["explanation"] == "未推送：这条变更早于申请的当前状态"
    assert rows(db, Application)[0].status == "interview"
    assert count(db, StatusChange) == 2 and count(db, Notification) == 1


def test_the_same_status_again_is_recorded_and_not_pushed(client, db, clock):
    platform_post(client, PATH, event(event_id="1"))
    response = platform_post(client, PATH, event(event_id="2", changed_at="2026-11-28T11:00:00+08:00"))
    assert response.get_json()["reason"] == "unchanged"
    assert count(db, Notification) == 1


def test_a_newer_status_supersedes_an_unsent_older_push(client, db, clock):
    platform_post(client, PATH, event(event_id="1", status="viewed"))
    platform_post(
        client, PATH, event(event_id="2", status="to_communicate", changed_at="2026-11-28T11:00:00+08:00")
    )
    by_status = {n.content["template"]["data"]["status"]: n for n in rows(db, Notification)}
    assert by_status["被查看"].status == "superseded"
    assert by_status["待沟通"].status == "pending"
    other = platform_post(client, PATH, event(event_id="3", application_id="app-2", status="rejected"))
    assert other.status_code == 200
    assert {n.id: n.status for n in rows(db, Notification)}[by_status["待沟通"].id] == "pending"  # untouched


def test_a_status_without_any_template_is_not_queued_and_the_answer_says_why(client, db, clock, settings):
    del settings.notify.templates["status_hired"]
    response = platform_post(client, PATH, event(status="hired")).get_json()
    assert (response["queued"], response["reason"]) == (False, "no_channel")
    assert response["explanation"] == ("未发送：没有可用的渠道（公众号模板消息：没有配置模板；公众号订阅通知：没有配置模板；"
                                       "小程序订阅消息：没有配置模板）")  # fmt: skip
    assert rows(db, Notification)[0].status == "skipped"


def test_a_push_the_reminder_choice_stops_is_not_queued(client, db, clock):
    platform_post(client, PATH, event(event_id="1"))
    account = rows(db, Account)[0]
    applications.set_reminder_choice(db, account.id, "off", channel="official_account")
    db.commit()
    response = platform_post(
        client, PATH, event(event_id="2", status="hired", changed_at="2026-11-28T11:00:00+08:00")
    )
    assert response.get_json()["queued"] is False and response.get_json()["reason"] == "preference"
    assert response.get_json()["explanation"] == "未发送：按提醒设置不发送"


def test_an_application_of_another_account_is_a_conflict(client, db, clock):
    platform_post(client, PATH, event(event_id="1"))
    response = platform_post(client, PATH, event(event_id="2", account_id="acc-2", status="hired"))
    assert response.status_code == 409
    assert count(db, StatusChange) == 1


def test_the_change_and_its_push_are_one_transaction(client, db, clock, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("crash between the change and its push")

    monkeypatch.setattr(applications, "enqueue", crash)
    response = platform_post(client, PATH, event())
    assert response.status_code == 500
    assert (count(db, StatusChange), count(db, Application), count(db, Notification)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"status": "ghosted"}, "status", "invalid_field"),
        ({"status": None}, "status", "missing_field"),
        ({"event_id": ""}, "event_id", "missing_field"),
        ({"account_id": ["x"]}, "account_id", "invalid_field"),
        ({"application_id": "a b"}, "application_id", "invalid_field"),
        ({"job_title": "x" * 201}, "job_title", "invalid_field"),
        ({"company": "a\nb"}, "company", "invalid_field"),
        ({"changed_at": "2026-11-28 10:00"}, "changed_at", "invalid_field"),
        ({"changed_at": "yesterday"}, "changed_at", "invalid_field"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(client, db, clock, change, field, code):
    response = platform_post(client, PATH, event(**change))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"].startswith(field)
    assert count(db, StatusChange) == 0


def test_a_missing_field_is_named(client, clock):
    body = event()
    del body["changed_at"]
    response = platform_post(client, PATH, body)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "changed_at"


def test_a_body_that_is_not_an_object_is_a_400(client, clock):
    assert platform_post(client, PATH, b"[1, 2]").status_code == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(applications.FIELDS), json_values, max_size=7))
def test_any_body_is_parsed_or_refused_naming_a_field(body):
    try:
        parsed = applications.parse_status_event(body)
    except applications.InvalidField as exc:
        assert exc.field in applications.FIELDS and exc.code in ("missing_field", "invalid_field")
    else:
        assert parsed.status in STATUSES
        assert all(isinstance(getattr(parsed, f), str) for f in applications.FIELDS if f != "changed_at")


identifier = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
title = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200
).filter(lambda t: t.strip() and not any(0x7F <= ord(c) <= 0x9F for c in t))


@settings(max_examples=200, deadline=None)
@given(identifier, identifier, identifier, title, title, st.sampled_from(STATUSES),
       st.datetimes(min_value=__import__("datetime").datetime(2001, 1, 2),
                    max_value=__import__("datetime").datetime(2099, 12, 30)),
       st.integers(min_value=-12, max_value=14))  # fmt: skip
def test_every_valid_event_is_accepted_as_sent(
    event_id, account, application, job, company, status, at, offset
):
    from datetime import timedelta, timezone

    stamp = at.replace(tzinfo=timezone(timedelta(hours=offset))).isoformat()
    parsed = applications.parse_status_event({"event_id": event_id, "account_id": account,
                                              "application_id": application, "job_title": job,
                                              "company": company, "status": status, "changed_at": stamp})  # fmt: skip
    assert (parsed.event_id, parsed.account_id, parsed.application_id) == (event_id, account, application)
    assert (parsed.job_title, parsed.company) == (job.strip(), company.strip())
    assert parsed.changed_at == at - timedelta(hours=offset)
