"""Campus events through the mini-program API: every answer is checked against the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.events_helpers import answers, event_payload
from tests.helpers import platform_post
from tests.mp_helpers import assert_error, bearer, row_counts
from tests.openapi_check import openapi_checked  # noqa: F401
from wxbot.identity import identities, logins
from wxbot.models.campus import EventSignup

pytestmark = pytest.mark.usefixtures("openapi_checked")


def student(db, services, n, *, linked=True):
    """A logged-in mini-program user; linked to a platform account unless told otherwise."""
    identity = identities.upsert_identity(
        db, app_name="mp", appid="wxmp000000000001", kind="miniprogram", openid=f"o-mp-{n}"
    )
    if linked:
        account, _ = identities.upsert_platform_account(db, services.pii, f"p-{n}", f"1380013800{n}")
        identities.link(db, identity, account, proof="phone", actor="test")
    token, _ = logins.start(db, identity, ttl_seconds=30 * 86400)
    db.commit()
    return bearer(token)


def form(**overrides):
    return {**answers(**overrides), "consent_event_data": True}


@pytest.fixture
def two_seats(client, clock):
    assert platform_post(client, "/platform/events", event_payload(capacity=2)).status_code == 201


def test_listing_filters_and_seats_left(client, db, services, clock):
    me = student(db, services, 1)
    platform_post(client, "/platform/events", event_payload("a", days_ahead=1, capacity=3, city="上海"))
    platform_post(
        client, "/platform/events", event_payload("b", kind="job_fair", days_ahead=2, capacity=None)
    )
    platform_post(client, "/platform/events", event_payload("c", kind="online_talk", venue=None, days_ahead=3,
                                                            live_url="https://live.example.com/c"))  # fmt: skip
    platform_post(client, "/platform/events", event_payload("gone", status="cancelled"))
    client.post("/mp/mp/events/a/signup", json=form(), headers=me)
    listed = client.get("/mp/mp/events", headers=me).get_json()["events"]
    assert [e["event_id"] for e in listed] == ["a", "b", "c"]
    assert [e["seats_left"] for e in listed] == [2, None, 2]

    def only(q):
        return [e["event_id"] for e in client.get(f"/mp/mp/events?{q}", headers=me).get_json()["events"]]

    assert only("kind=job_fair") == ["b"]
    assert only("city=上海") == ["a"]
    assert only("school=清华大学&limit=1&offset=1") == ["b"]
    assert_error(client.get("/mp/mp/events?kind=party", headers=me), 400, "invalid_field", "kind")
    assert_error(client.get("/mp/mp/events?limit=500", headers=me), 400, "invalid_field", "limit")


def test_routes_need_a_linked_login(client, db, services, two_seats):
    assert_error(client.get("/mp/mp/events"), 401, "invalid_token")
    unlinked = student(db, services, 2, linked=False)
    assert_error(client.post("/mp/mp/events/ev-1/signup", json=form(), headers=unlinked), 403, "not_linked")


def test_sign_up_see_it_and_cancel(client, db, services, two_seats):
    me = student(db, services, 1)
    created = client.post("/mp/mp/events/ev-1/signup", json=form(), headers=me)
    assert created.status_code == 201
    signup = created.get_json()["signup"]
    assert signup["status"] == "confirmed" and signup["checkin_code"] and signup["waitlist_rank"] is None
    detail = client.get("/mp/mp/events/ev-1", headers=me).get_json()
    assert detail["seats_left"] == 1 and detail["my_signup"] == signup
    assert client.get("/mp/mp/signups", headers=me).get_json()["signups"] == [signup]
    twice = assert_error(
        client.post("/mp/mp/events/ev-1/signup", json=form(), headers=me), 409, "already_signed_up"
    )
    assert twice["signup"]["checkin_code"] == signup["checkin_code"]
    renewed = client.post("/mp/mp/events/ev-1/checkin-code", headers=me).get_json()["signup"]
    assert renewed["checkin_code"] != signup["checkin_code"]
    cancelled = client.delete("/mp/mp/events/ev-1/signup", headers=me)
    assert cancelled.status_code == 200 and cancelled.get_json()["signup"]["status"] == "cancelled"
    assert cancelled.get_json()["signup"]["checkin_code"] is None
    assert client.get("/mp/mp/events/ev-1", headers=me).get_json()["my_signup"] is None
    assert_error(client.delete("/mp/mp/events/ev-1/signup", headers=me), 404, "not_signed_up")


def test_waiting_list_rank_and_promotion(client, db, services, two_seats):
    people = [student(db, services, n) for n in range(4)]
    statuses = [client.post("/mp/mp/events/ev-1/signup", json=form(), headers=p).get_json()["signup"]
                for p in people]  # fmt: skip
    assert [s["status"] for s in statuses] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert [s["waitlist_rank"] for s in statuses] == [None, None, 1, 2]
    client.delete("/mp/mp/events/ev-1/signup", headers=people[0])
    mine = client.get("/mp/mp/events/ev-1", headers=people[2]).get_json()["my_signup"]
    assert mine["status"] == "confirmed" and mine["checkin_code"]
    assert client.get("/mp/mp/events/ev-1", headers=people[3]).get_json()["my_signup"]["waitlist_rank"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a\u0000b"}, "name"),
        ({"school": "x" * 101}, "school"),
        ({"major": 42}, "major"),
        ({"graduation_year": "next year"}, "graduation_year"),
        ({"graduation_year": 1900}, "graduation_year"),
        ({"phone": "12345"}, "phone"),
        ({"phone": None}, "phone"),
        ({"consent_event_data": False}, "consent_event_data"),
        ({"share_with_organiser": "yes"}, "share_with_organiser"),
    ],
)
def test_a_bad_field_is_named_and_nothing_is_kept(client, db, services, two_seats, change, field):
    me = student(db, services, 1)
    before = row_counts(db)
    response = client.post("/mp/mp/events/ev-1/signup", json={**form(), **change}, headers=me)
    assert_error(response, 400, "invalid_field", field)
    assert row_counts(db) == before


def test_under_16_is_refused_with_a_clear_message_and_nothing_kept(client, db, services, clock, two_seats):
    me = student(db, services, 1)
    before = row_counts(db)
    too_young = form(graduation_year=clock.current.year + 9)
    error = assert_error(
        client.post("/mp/mp/events/ev-1/signup", json=too_young, headers=me), 403, "under_age"
    )
    assert "16" in error["message"] and error["field"] == "graduation_year"
    assert row_counts(db) == before


def test_closed_and_unknown_events(client, db, services, clock, two_seats):
    me = student(db, services, 1)
    assert_error(client.post("/mp/mp/events/nope/signup", json=form(), headers=me), 404, "event_not_found")
    clock.advance(days=7)
    error = assert_error(
        client.post("/mp/mp/events/ev-1/signup", json=form(), headers=me), 409, "signup_closed"
    )
    assert "截止" in error["message"]
    assert db.scalar(select(EventSignup)) is None
    db.rollback()
