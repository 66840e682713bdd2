"""MariaDB killed (SIGKILL, as a crash) while followers write, and started again: the callback answers 503 while
it is gone, and WeChat's re-sends (up to 3, 5 s apart) store every message once."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.faults import load
from tests.faults.http_follower import HttpFollower
from tests.faults.replies import NumberedReplies

pytestmark = pytest.mark.slow

FOLLOWERS = int(os.environ.get("WXBOT_FAULTS_FOLLOWERS", "150"))
PER_FOLLOWER = 2
RESENDS, RESEND_SECONDS = 3, 5.0  # WeChat: a delivery not answered is sent again up to 3 times, 5 s apart


def _wechat_resends(server, sent: list[load.Sent]) -> list[Counter[int]]:
    """Each delivery not answered 200 sent again, as WeChat does; the answers of each round."""
    rounds: list[Counter[int]] = []
    http = threading.local()

    def again(item: load.Sent) -> load.Sent:
        if not hasattr(http, "session"):
            http.session = requests.Session()
        follower = HttpFollower(server.app, server.base_url, http.session, openid=item.openid)
        return load.Sent(
            item.openid, item.msg_id, item.content, follower.send_text_as(item.content, item.msg_id)
        )

    latest = {s.msg_id: s for s in sent}
    for _ in range(RESENDS):
        failed = [s for s in latest.values() if s.reply.status != 200]
        if not failed:
            break
        time.sleep(RESEND_SECONDS)
        with ThreadPoolExecutor(6) as pool:
            answered = list(pool.map(again, failed))
        rounds.append(Counter(a.reply.status for a in answered))
        latest.update({a.msg_id: a for a in answered})
    return rounds


def test_mariadb_restarted_mid_load_loses_nothing_after_wechats_resends(server, private_mariadb):
    NumberedReplies().install(server.app)
    killed_at = FOLLOWERS // 3
    restarted: list[threading.Thread] = []

    def faults(done: int) -> None:
        if done == killed_at:
            private_mariadb.kill()
            restart = threading.Thread(target=lambda: (time.sleep(2), private_mariadb.start()))
            restart.start()
            restarted.append(restart)

    during = load.run(server, FOLLOWERS, PER_FOLLOWER, parallel_followers=6, between=faults)
    restarted[0].join()
    rounds = _wechat_resends(server, during.sent)
    stored = load.rows_per_msg_id(server.app)
    print(f"\n{len(during.sent)} deliveries ({FOLLOWERS} followers x {PER_FOLLOWER} at once) in "
          f"{during.seconds:.1f} s, MariaDB SIGKILLed after {killed_at} followers and started again 2 s later: "
          f"{dict(during.statuses)}; WeChat's re-sends, round by round: {[dict(r) for r in rounds]}; "
          f"{len(stored)} messages stored, {sum(1 for n in stored.values() if n > 1)} twice")  # fmt: skip
    assert during.non_200 > 0  # the outage was felt ...
    assert rounds and rounds[-1] == Counter(
        {200: sum(rounds[-1].values())}
    )  # ... and the re-sends got through
    assert set(stored) == {str(s.msg_id) for s in during.sent} and set(stored.values()) == {1}
