"""Campus events: the platform's upserts, sign-ups and the waiting list, check-in, reminders, erasure, export,
the users' rights. Through the signed platform API where the platform is the actor, through the domain
functions (what the mini-program routes call) where the student is."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.campus import send_event_reminders
from jobs.retention import run_retention
from tests.events_helpers import answers, event_payload, iso, make_person
from tests.helpers import platform_post
from wxbot import errors
from wxbot.campus import signups, views
from wxbot.campus.checkin import revoke_checkin_code
from wxbot.models.campus import Event, EventSignup
from wxbot.models.outbox import Notification
from wxbot.privacy import consent
from wxbot.privacy import registry as rights
from wxbot.privacy.retention import Purged
from wxbot.web import status_of

pytestmark = pytest.mark.usefixtures("platform_openapi_checked")


@pytest.fixture
def people(db):
    created = [make_person(db, n) for n in range(6)]
    db.commit()
    return created


def post_event(client, body):
    return platform_post(client, "/platform/events", body)


def sign(db, services, person, event_id="ev-1", *, share=False, **answer_overrides):
    account_id, identity_id = person
    row = signups.signup(
        db,
        services.pii,
        event_id=event_id,
        account_id=account_id,
        identity_id=identity_id,
        answers=answers(**answer_overrides),
        consent_event_data=True,
        share_with_organiser=share,
    )
    db.commit()
    return row


def notifications(db, purpose=None):
    db.expire_all()
    query = select(Notification).order_by(Notification.id)
    if purpose:
        query = query.where(Notification.purpose == purpose)
    found = list(db.scalars(query))
    db.commit()  # end the read: on SQLite every transaction holds the write lock
    return found


# ---------------------------------------------------------------- events from the platform


def test_the_platform_creates_then_updates_an_event(client, db, clock):
    created = post_event(client, event_payload(capacity=50))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["created"] is True
    again = post_event(client, event_payload(capacity=60, title="新标题"))
    assert again.status_code == 200
    assert again.get_json() == {"event_id": "ev-1", "created": False, "moved": False, "cancelled": False,
                                "notified": 0, "promoted": 0, "stale": False}  # fmt: skip
    stats = platform_post(client, "/platform/events/ev-1", b"", method="GET").get_json()
    assert stats["title"] == "新标题" and stats["capacity"] == 60 and stats["seats_left"] == 60
    assert stats["starts_at"].endswith("+08:00")
    assert stats["counts"] == {"confirmed": 0, "waitlisted": 0, "cancelled": 0, "attended": 0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "a b"}, "event_id"),
        ({"kind": "party"}, "kind"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"organiser": 5}, "organiser"),
        ({"starts_at": "2026-03-01T14:00:00"}, "starts_at"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"ends_at": "2020-01-01T00:00:00+08:00"}, "ends_at"),
        ({"venue": None}, "venue"),
        ({"kind": "online_talk", "live_url": "http://live.example.com/1"}, "live_url"),
        ({"kind": "online_talk"}, "live_url"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"capacity": "50"}, "capacity"),
        ({"fields": ["name", "salary"]}, "fields"),
        ({"fields": ["name", "name"]}, "fields"),
        ({"status": "postponed"}, "status"),
        ({"signup_deadline": "2099-01-01T00:00:00+08:00"}, "signup_deadline"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(client, db, clock, change, field):
    response = post_event(client, event_payload(**change))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == field and field in error["fields"]
    assert db.scalar(select(Event)) is None


def test_an_unsigned_event_is_refused(client, db):
    response = client.post("/platform/events", json=event_payload())
    assert response.status_code == 401
    assert db.scalar(select(Event)) is None


def test_every_wrong_field_is_named_at_once(client, clock):
    error = post_event(client, event_payload(kind="x", title="", capacity=-1)).get_json()["error"]
    assert set(error["fields"]) == {"kind", "title", "capacity"}


def test_moving_an_event_tells_everyone_signed_up_once(client, db, services, clock, people):
    post_event(client, event_payload(capacity=1))
    sign(db, services, people[0])
    sign(db, services, people[1])  # waitlisted: told too
    body = event_payload(capacity=1, venue="新体育馆")
    first = post_event(client, body).get_json()
    assert first["moved"] is True and first["notified"] == 2
    assert post_event(client, body).get_json()["notified"] == 0  # the platform's retry changes nothing
    moved = notifications(db, "event_moved")
    assert sorted(n.account_id for n in moved) == sorted([people[0][0], people[1][0]])
    assert "新体育馆" in moved[0].content["text"]
    assert moved[0].urgent and moved[0].content["template"]["data"]["where"] == "新体育馆"
    later = event_payload(capacity=1, venue="新体育馆", days_ahead=8)
    assert post_event(client, later).get_json()["notified"] == 2
    assert len(notifications(db, "event_moved")) == 4


def test_cancelling_an_event_tells_everyone_and_it_stays_cancelled(client, db, services, clock, people):
    post_event(client, event_payload())
    sign(db, services, people[0])
    result = post_event(client, event_payload(status="cancelled")).get_json()
    assert result["cancelled"] is True and result["notified"] == 1
    assert post_event(client, event_payload(status="cancelled")).get_json()["notified"] == 0
    assert [n.account_id for n in notifications(db, "event_cancelled")] == [people[0][0]]
    again = post_event(client, event_payload())
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "event_cancelled"
    with pytest.raises(errors.Conflict) as refused:
        sign(db, services, people[1])
    assert refused.value.code == "event_cancelled"


def test_capacity_never_drops_below_confirmed_seats_and_growth_promotes(client, db, services, clock, people):
    post_event(client, event_payload(capacity=2))
    for person in people[:4]:
        sign(db, services, person)
    shrink = post_event(client, event_payload(capacity=1))
    assert shrink.status_code == 409 and shrink.get_json()["error"]["field"] == "capacity"
    grown = post_event(client, event_payload(capacity=3)).get_json()
    assert grown["promoted"] == 1
    assert [n.account_id for n in notifications(db, "event_promoted")] == [people[2][0]]


def test_events_import_cli_validates_everything_before_writing(app, db, clock, tmp_path):
    from click.testing import CliRunner

    from wxbot.cli import import_events

    good = [event_payload("ev-a"), event_payload("ev-b", kind="online_talk", venue=None,
                                                 live_url="https://live.example.com/b")]  # fmt: skip
    bad = [*good, event_payload("ev-c", kind="party")]
    runner = CliRunner()
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    failed = runner.invoke(import_events, [str(tmp_path / "bad.json")], obj=app.extensions["wxbot"])
    assert failed.exit_code != 0 and "[2].kind" in failed.output
    assert db.scalar(select(Event)) is None
    db.commit()
    (tmp_path / "good.json").write_text(json.dumps(good), encoding="utf-8")
    done = runner.invoke(import_events, [str(tmp_path / "good.json")], obj=app.extensions["wxbot"])
    assert done.exit_code == 0, done.output
    assert "2 created, 0 updated" in done.output
    assert sorted(db.scalars(select(Event.external_id))) == ["ev-a", "ev-b"]


# ---------------------------------------------------------------- signing up


def test_seats_then_waiting_list_in_order(client, db, services, clock, people):
    post_event(client, event_payload(capacity=2))
    rows = [sign(db, services, person) for person in people[:4]]
    assert [r.status for r in rows] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [r.queue_number for r in rows] == [1, 2, 3, 4]
    assert [views.waitlist_rank(db, r) for r in rows] == [None, None, 1, 2]
    assert rows[0].checkin_code and rows[2].checkin_code is None
    db.commit()
    stats = platform_post(client, "/platform/events/ev-1", b"", method="GET").get_json()
    assert stats["seats_left"] == 0 and stats["counts"]["waitlisted"] == 2


def test_signing_up_twice_is_a_conflict_with_the_existing_sign_up(client, db, services, clock, people):
    post_event(client, event_payload())
    first = sign(db, services, people[0])
    with pytest.raises(signups.AlreadySignedUp) as twice:
        sign(db, services, people[0], name="李四")
    assert status_of(twice.value) == 409
    assert twice.value.details["signup"]["queue_number"] == first.queue_number
    assert twice.value.details["signup"]["checkin_code"] == first.checkin_code
    assert db.scalar(select(EventSignup.name)) == "张三"


def test_after_the_deadline_signing_up_is_a_conflict_with_the_reason(client, db, services, clock, people):
    post_event(client, event_payload())
    clock.advance(days=7, hours=-11)  # one hour after the deadline (12 h before the start)
    with pytest.raises(errors.Conflict) as late:
        sign(db, services, people[0])
    assert late.value.code == "signup_closed" and "截止" in late.value.message
    assert late.value.details["deadline"].endswith("+08:00")
    assert db.scalar(select(EventSignup)) is None


def test_the_phone_is_stored_encrypted_and_only_required_fields_are_kept(client, db, services, clock, people):
    post_event(client, event_payload(fields=["name", "phone"]))
    row = sign(db, services, people[0], phone="+86 138-1234-5678", major="不该保存")
    assert row.major is None and row.school is None
    assert "13812345678" not in (row.phone_enc or "")
    assert services.pii.decrypt(row.phone_enc) == "13812345678"
    assert row.phone_masked == "138****5678"


def test_consents_are_scoped_to_the_event_and_sharing_is_off_by_default(client, db, services, clock, people):
    post_event(client, event_payload())
    post_event(client, event_payload("ev-2"))
    sign(db, services, people[0])
    sign(db, services, people[0], event_id="ev-2", share=True)
    event_1, event_2 = (db.scalar(select(Event).where(Event.external_id == e)) for e in ("ev-1", "ev-2"))
    account = people[0][0]
    for event in (event_1, event_2):
        assert consent.current(db, kind="event_data", account_id=account, scope=f"event:{event.id}")
    assert consent.current(db, kind="event_data", account_id=account) is None  # never unscoped
    assert (
        consent.current(db, kind="organiser_sharing", account_id=account, scope=f"event:{event_1.id}") is None
    )
    assert consent.current(db, kind="organiser_sharing", account_id=account, scope=f"event:{event_2.id}")


def test_a_sign_up_without_consent_is_refused_and_nothing_kept(client, db, services, clock, people):
    post_event(client, event_payload())
    with pytest.raises(errors.Invalid) as refused:
        signups.signup(db, services.pii, event_id="ev-1", account_id=people[0][0], identity_id=people[0][1],
                      answers=answers(), consent_event_data=None)  # fmt: skip
    assert refused.value.details["field"] == "consent_event_data"
    db.rollback()
    assert db.scalar(select(EventSignup)) is None


@pytest.mark.parametrize(
    ("fields", "given", "field"),
    [
        (["graduation_year"], {"graduation_year": 2026 + 7}, "graduation_year"),
        (["birth_year"], {"birth_year": 2026 - 15}, "birth_year"),
    ],
)
def test_under_16s_are_refused_where_the_fields_show_it(
    client, db, services, clock, people, fields, given, field
):
    clock.set(clock.current.replace(year=2026, month=3, day=1))
    post_event(client, event_payload(fields=fields))
    with pytest.raises(errors.Refused) as refused:
        sign(db, services, people[0], **given)
    assert refused.value.code == "under_age" and refused.value.details["field"] == field
    assert "16" in refused.value.message
    db.rollback()
    assert db.scalar(select(EventSignup)) is None
    assert consent.current(db, kind="event_data", account_id=people[0][0], scope="event:1") is None
    # 16 this year, or a graduation year six years away: welcome
    ok = {"graduation_year": 2026 + 6} if field == "graduation_year" else {"birth_year": 2026 - 16}
    assert sign(db, services, people[0], **ok).status == "confirmed"


# ---------------------------------------------------------------- cancelling


def test_a_cancellation_promotes_the_first_in_line_and_tells_them(client, db, services, clock, people):
    post_event(client, event_payload(capacity=1))
    first, second, third = (sign(db, services, p) for p in people[:3])
    signups.cancel_signup(db, event_id="ev-1", account_id=people[0][0])
    db.commit()
    db.expire_all()
    assert (first.status, second.status, third.status) == ("cancelled", "confirmed", "waitlisted")
    assert second.checkin_code and views.waitlist_rank(db, third) == 1
    assert first.name is None and first.phone_enc is None  # its purpose is gone
    promoted = notifications(db, "event_promoted")
    assert [(n.account_id, n.source_id) for n in promoted] == [(people[1][0], str(second.id))]
    assert "候补" in promoted[0].content["text"]
    scope = f"event:{first.event_id}"
    assert consent.current(db, kind="event_data", account_id=people[0][0], scope=scope) is None


def test_cancelling_is_refused_after_the_cancel_deadline_but_waitlisted_may_leave(
    client, db, services, clock, people
):
    post_event(client, event_payload(capacity=1))
    sign(db, services, people[0])
    sign(db, services, people[1])
    clock.advance(days=7, hours=-5)  # past the cancel deadline (6 h before), before the start
    with pytest.raises(errors.Conflict) as late:
        signups.cancel_signup(db, event_id="ev-1", account_id=people[0][0])
    assert late.value.code == "cancel_closed"
    db.rollback()
    assert signups.cancel_signup(db, event_id="ev-1", account_id=people[1][0]).status == "cancelled"
    db.commit()
    with pytest.raises(errors.NotFound):
        signups.cancel_signup(db, event_id="ev-1", account_id=people[1][0])


def test_signing_up_again_after_cancelling_joins_the_end_of_the_queue(client, db, services, clock, people):
    post_event(client, event_payload(capacity=1))
    sign(db, services, people[0])
    sign(db, services, people[1])
    signups.cancel_signup(db, event_id="ev-1", account_id=people[0][0])
    db.commit()
    again = sign(db, services, people[0])
    assert again.status == "waitlisted" and again.queue_number == 3 and again.name == "张三"


# ---------------------------------------------------------------- check-in


def checkin(client, event_id, code):
    response = platform_post(client, "/platform/checkin", {"event_id": event_id, "code": code})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["result"]


def test_check_in_answers(client, db, services, clock, people):
    post_event(client, event_payload(capacity=2))
    post_event(client, event_payload("ev-2"))
    rows = [sign(db, services, p) for p in people[:3]]
    code, other_code = rows[0].checkin_code, rows[1].checkin_code
    assert checkin(client, "ev-1", code) == "not_open"  # a week early
    clock.advance(days=7, hours=-1)  # an hour before the start: open (two hours before by default)
    assert checkin(client, "ev-1", "no-such-code") == "unknown"
    assert checkin(client, "ev-2", code) == "wrong_event"
    assert checkin(client, "ev-1", code) == "ok"
    assert checkin(client, "ev-1", code) == "already_checked_in"
    clock.advance(hours=4)  # the event has ended
    assert checkin(client, "ev-1", other_code) == "not_open"
    stats = platform_post(client, "/platform/events/ev-1", b"", method="GET").get_json()
    assert stats["counts"]["attended"] == 1


def test_check_in_of_cancelled_sign_ups_and_events(client, db, services, clock, people):
    post_event(client, event_payload(capacity=5))
    kept, left = sign(db, services, people[0]), sign(db, services, people[1])
    signups.cancel_signup(db, event_id="ev-1", account_id=people[1][0])
    db.commit()
    clock.advance(days=7)
    assert checkin(client, "ev-1", left.checkin_code) == "cancelled"
    post_event(client, event_payload(capacity=5, status="cancelled", days_ahead=0))
    assert checkin(client, "ev-1", kept.checkin_code) == "cancelled"


def test_a_revoked_code_is_unknown_and_the_new_one_works(client, db, services, clock, people):
    post_event(client, event_payload())
    old = sign(db, services, people[0]).checkin_code
    new = revoke_checkin_code(db, event_id="ev-1", account_id=people[0][0]).checkin_code
    db.commit()
    assert new != old and len(new) >= 20 and "13812345678" not in new
    clock.advance(days=7)
    assert checkin(client, "ev-1", old) == "unknown"
    assert checkin(client, "ev-1", new) == "ok"


def test_check_in_needs_both_fields(client, clock):
    response = platform_post(client, "/platform/checkin", {"event_id": "ev-1"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "code"


# ---------------------------------------------------------------- reminders


def test_one_reminder_per_sign_up_before_the_start(client, db, services, clock, people):
    post_event(client, event_payload(capacity=2, days_ahead=3))
    early = [sign(db, services, p) for p in people[:3]]  # two seats, one waitlisted
    clock.advance(days=1, hours=12)  # 36 h before: not yet
    assert send_event_reminders(services) == 0
    clock.advance(hours=13)  # 23 h before
    assert send_event_reminders(services) == 2
    assert send_event_reminders(services) == 0
    reminders = notifications(db, "event_reminder")
    assert sorted(n.account_id for n in reminders) == sorted([people[0][0], people[1][0]])
    # a seat freed after the reminder time: the promoted person is told by the promotion, not reminded
    signups.cancel_signup(db, event_id="ev-1", account_id=people[0][0])
    db.commit()
    db.expire_all()
    assert early[2].status == "confirmed"
    db.commit()
    assert send_event_reminders(services) == 0
    assert len(notifications(db, "event_reminder")) == 2


def test_no_reminder_for_a_sign_up_made_after_the_reminder_time(client, db, services, clock, people):
    post_event(client, event_payload(capacity=None, days_ahead=3))
    sign(db, services, people[0])
    clock.advance(days=2, hours=1)  # 23 h before
    sign(db, services, people[1])
    assert send_event_reminders(services) == 1
    assert [n.account_id for n in notifications(db, "event_reminder")] == [people[0][0]]


def test_the_reminder_time_is_configurable(config_dict, client, db, services, clock, people):
    services.settings.events.reminder_hours_before = 2
    post_event(client, event_payload(days_ahead=1))
    sign(db, services, people[0])
    clock.advance(hours=21)
    assert send_event_reminders(services) == 0
    clock.advance(hours=2)
    assert send_event_reminders(services) == 1


def test_a_moved_event_is_reminded_again_for_its_new_time(client, db, services, clock, people):
    post_event(client, event_payload(days_ahead=3))
    sign(db, services, people[0])
    clock.advance(days=2, hours=1)
    assert send_event_reminders(services) == 1
    post_event(client, event_payload(days_ahead=2))  # moved: now two days ahead
    assert send_event_reminders(services) == 0
    clock.advance(days=1, hours=1)
    assert send_event_reminders(services) == 1
    assert len(notifications(db, "event_reminder")) == 2


# ---------------------------------------------------------------- purpose-bound data


def read_csv(response):
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_organiser_export_only_consenting_confirmed_with_masked_phones(client, db, services, clock, people):
    post_event(client, event_payload(capacity=2))
    sign(db, services, people[0], share=True, name="=HYPERLINK(1)")
    sign(db, services, people[1])  # did not agree to share
    sign(db, services, people[2], share=True)  # waitlisted
    response = platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = read_csv(response)
    assert rows[0] == ["序号", "姓名", "学校", "专业", "毕业年份", "手机号", "签到时间"]
    assert rows[1:] == [["1", "'=HYPERLINK(1)", "清华大学", "计算机科学与技术", str(clock.current.year + 1),
                         "138****5678", ""]]  # fmt: skip
    assert "13812345678" not in response.get_data(as_text=True)


def test_personal_fields_are_erased_after_the_event_and_the_counts_stay(client, db, services, clock, people):
    post_event(client, event_payload(capacity=1))
    attended, waiting = sign(db, services, people[0], share=True), sign(db, services, people[1])
    clock.advance(days=7)
    assert checkin(client, "ev-1", attended.checkin_code) == "ok"
    clock.advance(days=30, hours=1)  # 30 days after the end, less an hour
    assert run_retention(services, force=True)["event_signups"] == Purged(anonymised=0)
    assert platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET").status_code == 200
    clock.advance(hours=1)
    assert run_retention(services, force=True)["event_signups"] == Purged(anonymised=2)
    assert run_retention(services, force=True)["event_signups"] == Purged(anonymised=0)
    db.expire_all()
    for row in (attended, waiting):
        db.refresh(row)
        assert row.anonymised_at is not None
        assert (row.name, row.school, row.major, row.graduation_year, row.phone_enc, row.phone_masked,
                row.account_id, row.identity_id, row.checkin_code) == (None,) * 9  # fmt: skip
    db.commit()
    stats = platform_post(client, "/platform/events/ev-1", b"", method="GET").get_json()
    assert stats["counts"] == {"confirmed": 1, "waitlisted": 1, "cancelled": 0, "attended": 1}
    assert stats["personal_data_erased"] is True
    gone = platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET")
    assert gone.status_code == 410 and gone.get_json()["error"]["code"] == "erased"


def test_the_export_is_gone_once_erasure_is_due_even_before_the_job_ran(client, db, services, clock, people):
    post_event(client, event_payload())
    sign(db, services, people[0], share=True)
    clock.advance(days=38)
    assert platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET").status_code == 410


def test_rights_export_and_erase(client, db, services, clock, people):
    post_event(client, event_payload(capacity=1))
    post_event(client, event_payload("ev-past", days_ahead=1))
    sign(db, services, people[0], event_id="ev-past")
    sign(db, services, people[0])
    sign(db, services, people[1])
    module = {m.name: m for m in rights.modules()}["events"]
    exported = module.export(db, people[0][0])
    assert {e["event_id"] for e in exported} == {"ev-1", "ev-past"}
    assert exported[0]["given"]["phone"] == "138****5678"
    assert all("checkin_code" not in e for e in exported)
    clock.advance(days=3)  # ev-past is over, ev-1 is ahead
    assert module.erase(db, people[0][0]) == {"event_signups": 2}
    db.commit()
    db.expire_all()
    assert module.export(db, people[0][0]) == []
    rows = list(db.scalars(select(EventSignup).order_by(EventSignup.id)))
    assert [r.account_id for r in rows] == [None, None, people[1][0]]
    assert [r.status for r in rows] == ["confirmed", "cancelled", "confirmed"]  # the seat went to the next
    assert [n.account_id for n in notifications(db, "event_promoted")] == [people[1][0]]


def test_times_are_shown_in_the_events_own_offset(client, db, clock):
    start = clock.current.replace(microsecond=0) + timedelta(days=2)
    assert post_event(client, event_payload(days_ahead=2)).status_code == 201
    event = db.scalar(select(Event))
    view = views.event_view(event, 0)
    assert view["starts_at"] == iso(start)


def test_withdrawing_the_event_consent_gives_up_the_sign_up(client, db, services, clock, people):
    from wxbot.privacy import withdrawals

    post_event(client, event_payload(capacity=1))
    mine, next_in_line = sign(db, services, people[0], share=True), sign(db, services, people[1])
    scope = f"event:{mine.event_id}"
    withdrawals.withdraw_consent(
        db, people[0][0], "event_data", scope=scope, actor="user", channel="miniprogram"
    )
    db.commit()
    db.expire_all()
    assert (mine.status, mine.name, mine.phone_enc) == ("cancelled", None, None)
    assert next_in_line.status == "confirmed"
    db.commit()
    assert [n.account_id for n in notifications(db, "event_promoted")] == [people[1][0]]
    assert read_csv(platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET"))[1:] == []


def test_withdrawing_organiser_sharing_takes_the_attendee_off_the_export(client, db, services, clock, people):
    from wxbot.privacy import withdrawals

    post_event(client, event_payload())
    row = sign(db, services, people[0], share=True)

    def export():
        return read_csv(platform_post(client, "/platform/events/ev-1/attendees.csv", b"", method="GET"))

    assert len(export()) == 2
    withdrawals.withdraw_consent(db, people[0][0], "organiser_sharing", scope=f"event:{row.event_id}", actor="user",
                             channel="miniprogram")  # fmt: skip
    db.commit()
    assert len(export()) == 1


def test_the_fields_of_current_sign_ups_can_be_corrected(client, db, services, clock, people):
    from wxbot.privacy import corrections

    post_event(client, event_payload(fields=["name", "school"]))
    post_event(client, event_payload("ev-2", fields=["name", "major"]))
    first, second = sign(db, services, people[0]), sign(db, services, people[0], event_id="ev-2")
    changed = corrections.correct_profile(db, people[0][0], {"events": {"name": "李四", "major": "软件工程"}},
                                      actor="user", channel="miniprogram")  # fmt: skip
    db.commit()
    assert changed == {"events": ["major", "name"]}
    assert (first.name, first.major, second.name, second.major) == ("李四", None, "李四", "软件工程")
    with pytest.raises(rights.InvalidCorrection) as refused:
        corrections.correct_profile(db, people[0][0], {"events": {"graduation_year": clock.current.year + 9}},
                                actor="user", channel="miniprogram")  # fmt: skip
    assert refused.value.field_name == "graduation_year"
    db.rollback()
