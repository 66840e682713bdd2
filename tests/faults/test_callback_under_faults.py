"""The callback's answers to faults it can meet on any backend, without server processes of its own (fast):
a lock conflict on its transaction is run again, a cache that does not answer is gone around, and each cache
outage is logged once."""

from __future__ import annotations

import pymysql
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from tests.faults.conftest import free_port
from tests.faults.replies import NumberedReplies
from tests.wechat_helpers import Follower
from wxbot.cache import CacheUnavailable, InProcessCache, RedisCache
from wxbot.identity import followers
from wxbot.models import InboundMessage


def _stored(services) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


def _lock_conflict(code: int) -> OperationalError:
    return OperationalError("UPDATE identities ...", {}, pymysql.err.OperationalError(code, "lock conflict"))


def _conflicting(monkeypatch, code: int, times: int) -> list[str]:
    """The delivery's first statement (followers.record_delivery by openid, which takes the follower's lock)
    fails with `code` its first `times` calls; the returned list counts those calls, one per attempt."""
    calls: list[str] = []
    real = followers.record_delivery

    def record_delivery(session, **kwargs):
        if kwargs.get("openid") is not None:
            calls.append(kwargs["openid"])
            if len(calls) <= times:
                raise _lock_conflict(code)
        return real(session, **kwargs)

    monkeypatch.setattr(followers, "record_delivery", record_delivery)
    return calls


def test_a_delivery_chosen_as_a_deadlock_victim_is_run_again_and_answered(
    app, client, services, monkeypatch, wxbot_log
):
    NumberedReplies().install(app)
    calls = _conflicting(monkeypatch, 1213, times=1)
    follower = Follower(client)
    assert follower.send_text("hello").content == "answer 1"
    assert len(calls) == 2 and _stored(services) == 1
    assert wxbot_log.count("wxbot.db", "transaction run again after error 1213") == 1
    assert follower.redeliver().content == "answer 1"


def test_lock_conflicts_are_tried_three_times_before_the_callback_answers_503(
    app, client, services, monkeypatch
):
    calls = _conflicting(monkeypatch, 1205, times=99)
    assert Follower(client).send_text("hello").status == 503
    assert len(calls) == 3 and _stored(services) == 0


class SetFails(InProcessCache):
    """A cache that goes away between the claim and the reply: `set` fails."""

    def set(self, key, value, ttl=None):
        raise CacheUnavailable("connection refused")


def test_a_reply_that_cannot_be_cached_after_the_commit_is_still_answered(app, client, services):
    replies = NumberedReplies().install(app)
    services.cache = SetFails()
    follower = Follower(client)
    assert follower.send_text("hello").content == "answer 1"
    # the claim is still in the cache, the reply is not (it never is): the repeat finds it in the database
    assert follower.redeliver().content == "answer 1"
    assert replies.calls == 1 and _stored(services) == 1


def test_without_redis_the_database_alone_answers_every_copy_once_and_the_outage_is_logged_once(
    app, client, services, wxbot_log
):
    replies = NumberedReplies().install(app)
    services.cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", "wxbot-test:")  # nothing listens there
    senders = [Follower(client) for _ in range(10)]
    first = [f.send_text(f"hello {i}") for i, f in enumerate(senders)]
    assert [r.status for r in first] == [200] * 10
    again = [f.redeliver() for f in senders]
    assert [r.content for r in again] == [r.content for r in first]
    assert replies.calls == 10 and _stored(services) == 10
    # one line for the outage, none per request
    assert len(wxbot_log.warnings()) == 1
    assert wxbot_log.count("wxbot.cache", "redis unavailable") == 1


def test_a_lock_conflict_inside_a_handler_runs_the_delivery_again_instead_of_apologising(
    app, client, services, wxbot_log
):
    from wxbot.handlers import Router, TextReply

    runs: list[str] = []

    def conflicted_once(ctx):
        runs.append(ctx.message.content)
        if len(runs) == 1:
            raise _lock_conflict(1213)
        return TextReply("handled")

    router = Router()
    router.default(conflicted_once)
    app.extensions["wxbot"].router = router
    response = Follower(client).send_text("hello")
    assert (response.status, response.content) == (200, "handled")
    assert runs == ["hello", "hello"] and _stored(services) == 1
    assert wxbot_log.count("wxbot.db", "transaction run again after error 1213") == 1
    assert wxbot_log.count("wxbot.handlers.router", "handler") == 0
