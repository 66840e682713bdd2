"""Redis killed (SIGKILL, as a crash) while followers write, then started again empty: the callback keeps
answering 200, stores every message once, a re-delivery of a message stored before the crash gets the same
reply while Redis is down and after it is back, and the process logs the outage and the recovery once each."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.faults import load
from tests.faults.http_follower import HttpFollower
from tests.faults.replies import NumberedReplies

pytestmark = pytest.mark.slow

FOLLOWERS = int(os.environ.get("WXBOT_FAULTS_FOLLOWERS", "150"))
PER_FOLLOWER = 2


def _redeliver_twice_at_once(server, sent: list[load.Sent]) -> list[tuple[str | None, str | None]]:
    """Each message of `sent` delivered again, two copies at the same moment (WeChat's retry meeting a slow
    first copy): the replies, to compare with the first."""
    http = threading.local()

    def again(item: load.Sent) -> tuple[str | None, str | None]:
        if not hasattr(http, "session"):
            http.session = requests.Session()
        follower = HttpFollower(server.app, server.base_url, http.session, openid=item.openid)
        assert item.reply.status == 200
        with ThreadPoolExecutor(2) as both:
            copies = list(both.map(lambda _: follower.send_text_as(item.content, item.msg_id), range(2)))
        assert [c.status for c in copies] == [200, 200]
        return item.reply.content, copies[0].content if copies[0].content == copies[1].content else None

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(again, sent))


def test_redis_killed_mid_load_costs_no_answer_and_no_double(server, private_redis, wxbot_log):
    NumberedReplies().install(server.app)
    before = load.run(server, 20, 1, parallel_followers=4)
    assert before.non_200 == 0

    killed_at, back_at = FOLLOWERS // 3, 2 * FOLLOWERS // 3
    redelivered_while_down: list[tuple[str | None, str | None]] = []

    def faults(done: int) -> None:
        if done == killed_at:
            private_redis.kill()
            redelivered_while_down.extend(_redeliver_twice_at_once(server, before.sent))
        elif done == back_at:
            private_redis.start()  # empty, as after a crash without persistence

    during = load.run(server, FOLLOWERS, PER_FOLLOWER, parallel_followers=6, between=faults)
    redelivered_after = _redeliver_twice_at_once(server, before.sent)
    stored = load.rows_per_msg_id(server.app)

    sent = before.sent + during.sent
    print(f"\n{len(during.sent)} deliveries ({FOLLOWERS} followers x {PER_FOLLOWER} at once) in "
          f"{during.seconds:.1f} s, Redis killed after {killed_at} followers and back after {back_at}: "
          f"{dict(during.statuses)}; {len(before.sent)} earlier messages delivered again twice at once "
          f"while Redis was down and after it came back: all answered as the first time")  # fmt: skip
    assert during.non_200 == 0, dict(during.statuses)
    assert set(stored) == {str(s.msg_id) for s in sent} and set(stored.values()) == {1}
    assert len(redelivered_while_down) == len(before.sent)
    assert all(first == again for first, again in redelivered_while_down)
    assert all(first == again for first, again in redelivered_after)
    assert wxbot_log.count("wxbot.cache", "redis unavailable") == 1
    assert wxbot_log.count("wxbot.cache", "redis available again") == 1
    assert len(wxbot_log.warnings()) == 2, wxbot_log.warnings()[:5]
