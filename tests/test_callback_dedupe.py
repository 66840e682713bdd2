"""WeChat's retried deliveries: answered with the first reply, stored once, also concurrently and across
processes that share only the database."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import sqlalchemy as sa

from tests.wechat_helpers import Follower, xml_of
from wxbot import create_app
from wxbot.handlers import Router, TextReply
from wxbot.models import InboundMessage


class CountingHandler:
    """Answers with how often it ran, so a recomputed reply would show; optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, ctx):
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        return TextReply(f"answer {n}")


def install(app, handler) -> None:
    router = Router()
    router.default(handler)
    app.extensions["wxbot"].router = router


def stored_count(services) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


@pytest.fixture
def other_process(settings, app):
    """A second app on the same database with a cache of its own: what another process looks like when the
    cache is in-process (no Redis), or when Redis lost the key. Only the database can tell it about repeats."""
    other_settings = dataclasses.replace(
        settings, redis=dataclasses.replace(settings.redis, prefix=settings.redis.prefix + "other:")
    )
    other = create_app(other_settings)
    other.config["TESTING"] = True
    yield other
    other.extensions["wxbot"].engine.dispose()


def test_a_retry_gets_the_first_reply_and_is_stored_once(app, client, services):
    handler = CountingHandler()
    install(app, handler)
    follower = Follower(client)
    first = follower.send_text("hello")
    assert first.content == "answer 1"
    for _ in range(3):
        assert follower.redeliver().content == "answer 1"
    assert handler.calls == 1 and stored_count(services) == 1


@pytest.mark.parametrize("kind", ["message", "event"])
def test_a_retry_reaching_another_process_is_recognised_by_the_database(
    app, client, services, other_process, kind
):
    handler = CountingHandler()
    install(app, handler)
    install(other_process, handler)
    follower = Follower(client)
    first = follower.send_text("hello") if kind == "message" else follower.click("SOMETHING")
    assert first.content == "answer 1"
    follower.client = other_process.test_client()
    assert follower.redeliver().content == "answer 1"
    assert handler.calls == 1 and stored_count(services) == 1


def test_events_in_the_same_second_are_told_apart_by_event_and_key(app, client, services, clock):
    handler = CountingHandler()
    install(app, handler)
    follower = Follower(client)
    fields = follower.fields(MsgType="event", Event="CLICK", EventKey="A")
    follower.send(fields)
    follower.send({**fields, "EventKey": "B"})
    follower.send({**fields, "Event": "VIEW", "EventKey": "A"})
    follower.send(fields)  # the same event again: a retry
    assert handler.calls == 3 and stored_count(services) == 3


def concurrent_copies(clients, follower: Follower, xml: str) -> list:
    """Deliver the same body through each client at the same moment."""
    barrier = threading.Barrier(len(clients))
    replies: list = [None] * len(clients)

    def deliver(i: int, client) -> None:
        copy = Follower(client, follower.app, openid=follower.openid, mode=follower.mode)
        barrier.wait()
        replies[i] = copy.deliver(xml)

    threads = [threading.Thread(target=deliver, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def test_concurrent_copies_get_one_answer_and_one_row(app, services):
    handler = CountingHandler(delay=0.2)
    install(app, handler)
    follower = Follower(app.test_client())
    xml = xml_of(follower.fields(MsgType="text", Content="hello", MsgId=424242))
    replies = concurrent_copies([app.test_client() for _ in range(6)], follower, xml)
    assert [r.status for r in replies] == [200] * 6
    assert {r.content for r in replies} == {"answer 1"}
    assert handler.calls == 1 and stored_count(services) == 1


def test_concurrent_copies_across_processes_without_a_shared_cache(app, services, other_process):
    """The caches cannot see each other: the unique key in the database makes the loser wait for the
    winner's transaction and then answer what it answered."""
    handler = CountingHandler(delay=0.3)
    install(app, handler)
    install(other_process, handler)
    follower = Follower(app.test_client())
    xml = xml_of(follower.fields(MsgType="event", Event="CLICK", EventKey="K"))
    clients = [app.test_client(), other_process.test_client()] * 3
    replies = concurrent_copies(clients, follower, xml)
    assert [r.status for r in replies] == [200] * 6
    assert {r.content for r in replies} == {"answer 1"}
    assert handler.calls == 1 and stored_count(services) == 1


def test_a_first_delivery_that_failed_does_not_block_its_retry(app, client, services):
    """When the first attempt dies (here: the database refuses), nothing is stored and the retry is handled
    afresh rather than waiting for a reply that will never come."""
    handler = CountingHandler()
    install(app, handler)
    follower = Follower(client)
    real_factory = services.session_factory

    def broken_factory():
        raise sa.exc.OperationalError("connect", {}, Exception("database down"))

    services.session_factory = broken_factory
    try:
        assert follower.send_text("hello").status == 503
    finally:
        services.session_factory = real_factory
    assert stored_count(services) == 0
    assert follower.redeliver().content == "answer 1"
    assert stored_count(services) == 1
