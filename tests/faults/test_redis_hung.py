"""A Redis that accepts connections but never answers (SIGSTOP on the suite's own redis-server): the circuit
breaker lets only its first few calls wait their socket timeout, every delivery is still answered and
stored once, and the breaker logs one line when it opens and one when it closes."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.faults.replies import NumberedReplies
from tests.wechat_helpers import Follower
from wxbot.models import InboundMessage

pytestmark = pytest.mark.slow

DELIVERIES = 20


def test_a_hung_redis_costs_the_callback_its_first_few_timeouts_only(
    production_app, private_redis, monkeypatch, wxbot_log
):
    NumberedReplies().install(production_app)
    services = production_app.extensions["wxbot"]
    cache = services.cache
    cache.breaker.reset_seconds = 600.0  # no half-open try while Redis hangs: the count below is exact
    client = production_app.test_client()
    assert Follower(client).send_text("warm-up").status == 200
    asked: list[str] = []
    execute = cache.client.execute_command

    def counted(*args, **kwargs):
        asked.append(str(args[0]))
        return execute(*args, **kwargs)

    monkeypatch.setattr(cache.client, "execute_command", counted)
    private_redis.hang()
    seconds = []
    for i in range(DELIVERIES):
        started = time.monotonic()
        response = Follower(client, openid=f"o-hung-{i}").send_text(f"hello {i}")
        seconds.append(time.monotonic() - started)
        assert (response.status, response.content) == (200, f"answer {i + 2}")
    print(f"\nRedis hung: {DELIVERIES} deliveries, slowest {max(seconds):.2f} s, then at most "
          f"{max(seconds[2:]):.3f} s each; {len(asked)} calls waited for Redis, {cache.breaker.rejected} "
          f"refused at once")  # fmt: skip
    # one call per delivery (its claim): the first few wait their timeout and open the breaker
    assert len(asked) == services.settings.redis.breaker_failures
    assert cache.breaker.rejected >= DELIVERIES - len(asked)
    with services.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == DELIVERIES + 1
    assert wxbot_log.count("wxbot.cache", "redis unavailable") == 1

    private_redis.resume()
    cache.breaker.reset_seconds = 0.0  # the next call tries Redis, finds it, closes the breaker
    assert Follower(client, openid="o-after").send_text("back").status == 200
    assert cache.breaker.opened_at is None
    assert wxbot_log.count("wxbot.cache", "redis available again") == 1
    assert len(wxbot_log.warnings()) == 2, wxbot_log.warnings()
