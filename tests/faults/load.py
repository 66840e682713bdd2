"""Many followers at once over HTTP, each sending several messages at the same moment, with every answer
counted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import requests
import sqlalchemy as sa

from tests.faults.http_follower import HttpFollower
from tests.wechat_helpers import CallbackReply
from wxbot.models import InboundMessage

_msg_ids = count(8_100_000_000_000_000_000)


@dataclass
class Sent:
    openid: str
    msg_id: int
    content: str
    reply: CallbackReply


@dataclass
class Load:
    """What a run sent and what it got back."""

    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Sent) -> None:
        with self._mutex:
            self.sent.append(item)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(s.reply.status for s in self.sent)

    @property
    def non_200(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def run(
    server: Any,
    followers: int,
    per_follower: int,
    *,
    parallel_followers: int,
    contents: Callable[[int], list[str]] = lambda i: [f"第{i}位的消息"] * 4,
    between: Callable[[int], None] = lambda done: None,
) -> Load:
    """`followers` new followers, `parallel_followers` of them at a time; each sends `per_follower` texts
    released by one barrier, so they reach the server together. `between(done)` runs after each follower
    (the fault injection's hook)."""
    load = Load()
    local = threading.local()
    done = count(1)

    def one_follower(i: int) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
            local.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=per_follower))
        follower = HttpFollower(server.app, server.base_url, local.http)
        texts = contents(i)
        barrier = threading.Barrier(per_follower)

        def send(k: int) -> None:
            msg_id = next(_msg_ids)
            barrier.wait()
            load.add(Sent(follower.openid, msg_id, texts[k], follower.send_text_as(texts[k], msg_id)))

        threads = [threading.Thread(target=send, args=(k,)) for k in range(per_follower)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        between(next(done))

    started = time.monotonic()
    with ThreadPoolExecutor(parallel_followers) as pool:
        list(pool.map(one_follower, range(followers)))
    load.seconds = time.monotonic() - started
    return load


def rows_per_msg_id(app: Any) -> Counter[str]:
    services = app.extensions["wxbot"]
    with services.session_factory() as session:
        stored = session.execute(
            sa.select(InboundMessage.msg_id, sa.func.count()).group_by(InboundMessage.msg_id)
        ).all()
    return Counter({str(msg_id): n for msg_id, n in stored})
