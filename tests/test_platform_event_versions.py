"""Event versions through signed HTTP: an update whose version is not above the stored one (a late or
replayed older delivery) changes nothing and answers 200 "stale": true."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.events_helpers import event_payload
from tests.helpers import platform_post
from wxbot.models.campus import Event

pytestmark = pytest.mark.usefixtures("platform_openapi_checked")


def stored_event(db, event_id="ev-1"):
    """The event's columns as stored now; the read ends its transaction (SQLite: it holds the write lock)."""
    db.expire_all()
    event = db.scalar(select(Event).where(Event.external_id == event_id))
    columns = (
        None if event is None else {"venue": event.venue, "status": event.status, "version": event.version}
    )
    db.rollback()
    return columns


def test_an_older_version_changes_nothing_and_says_stale(client, db, clock):
    assert (
        platform_post(client, "/platform/events", event_payload(venue="主楼报告厅", version=5)).status_code
        == 201
    )
    newer = platform_post(client, "/platform/events", event_payload(venue="新体育馆", version=7))
    assert (
        newer.status_code == 200 and newer.get_json()["stale"] is False and newer.get_json()["moved"] is True
    )
    for version in (6, 7):
        old = platform_post(client, "/platform/events", event_payload(venue="主楼报告厅", version=version))
        assert old.status_code == 200
        assert old.get_json() == {"event_id": "ev-1", "created": False, "moved": False, "cancelled": False,
                                  "notified": 0, "promoted": 0, "stale": True}  # fmt: skip
    assert stored_event(db) == {"venue": "新体育馆", "status": "scheduled", "version": 7}
    stats = platform_post(client, "/platform/events/ev-1", b"", method="GET").get_json()
    assert stats["version"] == 7


def test_a_stale_cancellation_does_not_cancel(client, db, clock):
    platform_post(client, "/platform/events", event_payload(version=3))
    late = platform_post(client, "/platform/events", event_payload(status="cancelled", version=2))
    assert late.status_code == 200 and late.get_json()["stale"] is True
    assert stored_event(db)["status"] == "scheduled"


def test_an_event_without_a_version_takes_any_version(client, db, services, clock):
    from wxbot.campus import schedule, spec

    session = services.session_factory()
    # as `wxbot events import` does: no version
    schedule.upsert_event(session, spec.parse_event(event_payload()))
    session.commit()
    session.close()
    assert stored_event(db)["version"] is None
    response = platform_post(client, "/platform/events", event_payload(version=0))
    assert response.status_code == 200 and response.get_json()["stale"] is False
    assert stored_event(db)["version"] == 0


@pytest.mark.parametrize("version", [None, "7", 7.0, True, -1, 2**63])
def test_a_missing_or_wrong_version_is_refused_naming_it(client, db, clock, version):
    body = event_payload()
    if version is None:
        del body["version"]
    else:
        body["version"] = version
    response = platform_post(client, "/platform/events", body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "version")
    assert db.scalar(select(Event)) is None


def test_a_wrong_version_is_named_with_the_other_wrong_fields(client, clock):
    error = platform_post(client, "/platform/events", event_payload(kind="x", version=-1)).get_json()["error"]
    assert set(error["fields"]) == {"kind", "version"}
