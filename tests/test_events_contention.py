"""Capacity under contention: many sign-ups at once, each in its own session and transaction, as the web
processes make them. Never more confirmed than seats, the waiting list in arrival order, no errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from tests.events_helpers import answers, event_payload, make_person
from tests.helpers import platform_post
from wxbot.campus import schedule, spec
from wxbot.campus import signups as seats
from wxbot.db import session_scope
from wxbot.models.campus import Event, EventSignup
from wxbot.models.outbox import Notification

SIGNUPS, SEATS, CANCELLATIONS = 300, 50, 10


def run_together(count, work):
    """`work(i)` in `count` threads released at the same moment; the results in order of i."""
    barrier = threading.Barrier(count)

    def task(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))


@pytest.mark.slow
def test_concurrent_sign_ups_fill_the_seats_then_the_waiting_list_in_order(services, db, clock, backend):
    # SQLite serialises every writer (BEGIN IMMEDIATE); the contention that matters is MariaDB's.
    signups = 60 if backend == "embedded" else SIGNUPS
    people = [make_person(db, n) for n in range(signups)]
    db.commit()
    with session_scope(services.session_factory) as session:
        schedule.upsert_event(
            session, spec.parse_event(event_payload(capacity=SEATS, fields=["name", "phone"]))
        )
    db.commit()

    def sign_up(i):
        account_id, identity_id = people[i]
        try:
            with session_scope(services.session_factory) as session:
                row = seats.signup(session, services.pii, event_id="ev-1", account_id=account_id,
                                    identity_id=identity_id, answers=answers(), consent_event_data=True)  # fmt: skip
                return row.status, row.queue_number
        except Exception as exc:  # every failure is reported, not just the first
            return "error", repr(exc)

    results = run_together(signups, sign_up)
    assert [r for r in results if r[0] == "error"] == []
    assert sum(r[0] == "confirmed" for r in results) == SEATS
    assert sum(r[0] == "waitlisted" for r in results) == signups - SEATS
    assert sorted(q for _, q in results) == list(range(1, signups + 1))
    rows = list(db.scalars(select(EventSignup).order_by(EventSignup.queue_number)))
    # the first SEATS to take the event's lock hold the seats; the rest queue behind them in that order
    assert [r.status for r in rows] == ["confirmed"] * SEATS + ["waitlisted"] * (signups - SEATS)
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    waitlisted = [r for r in rows if r.status == "waitlisted"]
    db.commit()

    leavers = [r.account_id for r in rows[:CANCELLATIONS]]

    def cancel(i):
        try:
            with session_scope(services.session_factory) as session:
                return seats.cancel_signup(session, event_id="ev-1", account_id=leavers[i]).status
        except Exception as exc:
            return repr(exc)

    assert run_together(CANCELLATIONS, cancel) == ["cancelled"] * CANCELLATIONS
    db.expire_all()
    promoted = {r.id for r in db.scalars(select(EventSignup).where(EventSignup.status == "confirmed"))}
    assert len(promoted) == SEATS
    assert {r.id for r in waitlisted[:CANCELLATIONS]} <= promoted
    assert not {r.id for r in waitlisted[CANCELLATIONS:]} & promoted
    told = db.scalar(select(func.count()).where(Notification.purpose == "event_promoted"))
    assert told == CANCELLATIONS
    db.commit()


def test_concurrent_first_deliveries_of_an_event_create_it_once(app, db, clock):
    """The platform retries: the same new event arriving several times at once is one event, no error."""

    def deliver(_i):
        response = platform_post(app.test_client(), "/platform/events", event_payload("ev-race"))
        return response.status_code

    assert sorted(run_together(8, deliver)) == [200] * 7 + [201]
    assert db.scalar(select(func.count()).select_from(Event)) == 1
    db.commit()


def test_concurrent_sign_ups_of_one_person_make_one_sign_up(services, db, clock):
    account_id, identity_id = make_person(db, 1)
    db.commit()
    with session_scope(services.session_factory) as session:
        schedule.upsert_event(session, spec.parse_event(event_payload(capacity=5)))

    def sign_up(_i):
        try:
            with session_scope(services.session_factory) as session:
                return seats.signup(session, services.pii, event_id="ev-1", account_id=account_id,
                                     identity_id=identity_id, answers=answers(), consent_event_data=True).status  # fmt: skip
        except seats.AlreadySignedUp as exc:
            return exc.code
        except Exception as exc:
            return repr(exc)

    assert sorted(run_together(6, sign_up)) == ["already_signed_up"] * 5 + ["confirmed"]
    assert db.scalar(select(func.count()).select_from(EventSignup)) == 1
    db.commit()
