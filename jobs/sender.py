"""The push sender: drains the outbox through WeChat (the rules: wxbot.push.sender, wxbot.push.results).

Each round claims a batch of due notifications in one short transaction, makes their WeChat calls through a
bounded pool of threads (no transaction open meanwhile), and records the answers in a second transaction;
the next batch is claimed while the current one is on the wire. Any number of sender processes can run on
MySQL/MariaDB (SKIP LOCKED); on SQLite one claims at a time. `wxbot jobs` runs it every few seconds.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wxbot.db import retry_transaction, session_scope
from wxbot.push import results, sender
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

CLAIM_LOCK = "outbox:claim"
JOB_SECONDS = 2.0  # how often the scheduler starts a drain
DRAIN_SECONDS = 50.0  # a scheduled drain stops after this, so that the next run picks up


@dataclass
class Totals:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    next_channel: int = 0
    failed: int = 0
    settled: int = 0
    lost: int = 0
    rounds: int = 0

    def add(self, claim: sender.Claim, summary: results.Summary) -> None:
        self.rounds += 1
        self.claimed += len(claim.sends) + claim.settled
        self.settled += claim.settled
        for name in ("sent", "retrying", "next_channel", "failed", "lost"):
            setattr(self, name, getattr(self, name) + getattr(summary, name))


def send_due(services: Services, *, deadline_seconds: float | None = None) -> Totals:
    """Send rounds until nothing is due (or the deadline passes)."""
    settings = services.settings
    api = services.wechat
    totals = Totals()
    started = time.monotonic()
    # Two batches overlap: while one batch's WeChat calls are in flight, the next batch is claimed and
    # queued behind it, so the pool never waits for the database.
    in_flight: deque[tuple[sender.Claim, list[Future[results.Result]]]] = deque()
    with ThreadPoolExecutor(max_workers=settings.notify.concurrency, thread_name_prefix="sender") as pool:
        while True:
            out_of_time = deadline_seconds is not None and time.monotonic() - started >= deadline_seconds
            claim = None if out_of_time else retry_transaction(lambda: _claim(services))
            if claim is not None and (claim.sends or claim.settled):
                in_flight.append((claim, [pool.submit(_call, api, send) for send in claim.sends]))
            idle = claim is None or not (claim.sends or claim.settled)
            if in_flight and (idle or len(in_flight) > 1):
                done, futures = in_flight.popleft()
                answered = [f.result() for f in futures]
                summary = retry_transaction(functools.partial(_record, services, done.token, answered))
                totals.add(done, summary)
            elif idle and (out_of_time or claim is not None):
                break
            elif claim is None:  # another process holds the SQLite claim lock
                time.sleep(0.05)
    if totals.claimed:
        log.info(
            "sender: %d claimed, %d sent, %d retrying, %d to the next channel, %d failed, %d settled",
            totals.claimed, totals.sent, totals.retrying, totals.next_channel, totals.failed, totals.settled,
        )  # fmt: skip
    return totals


def _claim(services: Services) -> sender.Claim | None:
    with _claim_lock(services) as held:
        if not held:
            return None
        with session_scope(services.session_factory) as session:
            return sender.claim(session, services.settings, limit=services.settings.notify.batch_size)


@contextmanager
def _claim_lock(services: Services) -> Iterator[bool]:
    """SQLite has one claimer at a time (MySQL/MariaDB: SKIP LOCKED lets every sender claim)."""
    if services.engine.dialect.name != "sqlite":
        yield True
        return
    token = services.cache.try_lock(CLAIM_LOCK, ttl=60)
    if token is None:
        yield False
        return
    try:
        yield True
    finally:
        services.cache.release(CLAIM_LOCK, token)


def _record(services: Services, token: str, answered: list[results.Result]) -> results.Summary:
    with session_scope(services.session_factory) as session:
        return results.record(session, services.settings, token, answered)


def _call(api: Any, send: sender.Send) -> results.Result:
    try:
        return results.Result(send, answer=sender.wechat_call(api, send))
    except (WeChatError, WeChatUnavailable) as exc:
        return results.Result(send, error=exc)
    except Exception as exc:  # a bug or a configuration gap must not lose the row: it is retried, then failed
        log.exception("sending notification %d failed unexpectedly", send.notification_id)
        return results.Result(send, error=WeChatUnavailable(f"unexpected {type(exc).__name__}"))


def sender_job(services: Services) -> None:
    """The scheduled job: drain what is due, within a time budget."""
    send_due(services, deadline_seconds=DRAIN_SECONDS)
