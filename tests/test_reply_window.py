"""The customer-service window each follower action opens (wechat-platform.md §5.1), with the frozen clock."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.wechat_helpers import Follower
from wxbot.conversations import reply_window
from wxbot.models import Identity


def identity_id(db, follower) -> int:
    value = db.scalar(sa.select(Identity.id).where(Identity.openid == follower.openid))
    db.rollback()
    return value


def status(db, iid):
    result = reply_window.status(db, iid)
    db.rollback()
    return result


def consume(db, iid) -> bool:
    taken = reply_window.consume(db, iid)
    db.commit()
    return taken


def test_a_message_opens_48_hours_and_5_messages(client, db, clock):
    follower = Follower(client)
    follower.send_text("你好")
    iid = identity_id(db, follower)
    window = status(db, iid)
    assert window.open and window.remaining == 5 and window.expires_at == clock.current + timedelta(hours=48)
    assert [consume(db, iid) for _ in range(6)] == [True] * 5 + [False]
    assert status(db, iid) == reply_window.WindowStatus(open=False, remaining=0, expires_at=None)


def test_the_message_window_closes_after_48_hours(client, db, clock):
    follower = Follower(client)
    follower.send_text("你好")
    iid = identity_id(db, follower)
    clock.advance(hours=47, minutes=59, seconds=59)
    assert status(db, iid).remaining == 5
    clock.advance(seconds=1)
    assert not status(db, iid).open and not consume(db, iid)


def test_follow_scan_and_menu_click_open_one_minute_and_3(client, db, clock):
    for act in (lambda f: f.follow(), lambda f: f.scan("booth"), lambda f: f.click("JOBS")):
        follower = Follower(client)
        act(follower)
        iid = identity_id(db, follower)
        window = status(db, iid)
        assert (
            window.open
            and window.remaining == 3
            and window.expires_at == clock.current + timedelta(minutes=1)
        )
        clock.advance(seconds=60)
        assert not status(db, iid).open


def test_other_events_open_nothing(client, db, clock):
    follower = Follower(client)
    follower.event("VIEW", EventKey="https://example.com/")
    follower.event("LOCATION", Latitude="23.1", Longitude="113.3", Precision="10")
    follower.unfollow()
    assert not status(db, identity_id(db, follower)).open


def test_grants_add_up_and_the_soonest_ending_is_used_first(client, db, clock):
    follower = Follower(client)
    follower.send_text("你好")
    follower.click("HELP")
    iid = identity_id(db, follower)
    window = status(db, iid)
    assert window.remaining == 8 and window.expires_at == clock.current + timedelta(hours=48)
    assert all(consume(db, iid) for _ in range(3))
    clock.advance(minutes=2)  # the click's minute is over; it was used first, so nothing was lost
    assert status(db, iid).remaining == 5


def test_a_new_trigger_renews_its_grant_without_accumulating(client, db, clock):
    follower = Follower(client)
    follower.send_text("一")
    iid = identity_id(db, follower)
    assert consume(db, iid) and consume(db, iid)
    clock.advance(hours=10)
    follower.send_text("二")
    window = status(db, iid)
    assert window.remaining == 5 and window.expires_at == clock.current + timedelta(hours=48)


def test_unfollowing_closes_every_window(client, db, clock):
    follower = Follower(client)
    follower.send_text("你好")
    follower.unfollow()
    assert not status(db, identity_id(db, follower)).open


def test_a_retried_delivery_does_not_renew_the_window(client, db, clock):
    follower = Follower(client)
    follower.send_text("你好")
    iid = identity_id(db, follower)
    assert consume(db, iid)
    follower.redeliver()
    assert status(db, iid).remaining == 4
