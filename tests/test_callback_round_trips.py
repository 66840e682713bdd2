"""What one signed delivery costs in round trips to the database and to Redis (wxbot.roundtrips), through
the callback as WeChat calls it. SQLite's BEGIN IMMEDIATE (wxbot.db) is a statement MySQL/MariaDB does not
need (their transaction starts with the first statement), so it is counted on top there."""

from __future__ import annotations

import pytest

from tests.wechat_helpers import Follower
from wxbot.handlers.replies import render_reply_text
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
