"""The push sender: drains the outbox through WeChat (the rules: wxbot.push.sender, wxbot.push.results).

Each round claims a batch of due notifications in one short transaction and makes their WeChat calls through
a bounded pool of threads (no transaction open meanwhile); each answer is written as soon as it comes, with
the others that came within RECORD_SECONDS, in one transaction. The next batch is claimed while the current
one is on the wire. Any number of sender processes can run on MySQL/MariaDB (SKIP LOCKED); on SQLite one
claims at a time. `wxbot jobs` runs it every few seconds.

Nothing is sent that could not be recorded: while the database does not answer, the answers already in are
written again and again (until it answers), and no new send starts; a claim whose lease could not be renewed
in time starts no new send either (another sender may take its rows once the lease ends). Sends skipped that
way are given back as due when the database answers again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from wxbot.conversations import replies
from wxbot.db import error_code, is_transient, retry_transaction, session_scope
from wxbot.push import results, sender
from wxbot.services import Services
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

CLAIM_LOCK = "outbox:claim"
JOB_SECONDS = 2.0  # how often the scheduler starts a drain
DRAIN_SECONDS = 50.0  # a scheduled drain stops after this, so that the next run picks up
RECORD_SECONDS = 0.05  # answers that come within this of the first are written with it
RECORD_RETRY_MAX_SECONDS = 2.0  # the pause between tries of a write the database did not take, at most


@dataclass
class Totals:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    next_channel: int = 0
    failed: int = 0
    unknown: int = 0
    settled: int = 0
    lost: int = 0
    not_sent: int = 0  # given back unsent: the sender could not record, or its lease was at risk
    rounds: int = 0

    def add(self, summary: results.Summary) -> None:
        for name in ("sent", "retrying", "next_channel", "failed", "unknown", "lost"):
            setattr(self, name, getattr(self, name) + getattr(summary, name))


@dataclass
class _Out:
    """A claim on the wire: how many of its sends are unanswered, and until when (monotonic) a send may still
    start under its lease."""

    claim: sender.Claim
    waiting: int
    safe_until: float


# (claim token, the send, what WeChat answered; None: not sent)
Answer = tuple[str, sender.Send, results.Result | None]


class _Drain:
    def __init__(self, services: Services) -> None:
        self.services = services
        ns = services.settings.notify
        self.lease_renew_seconds = ns.lease_seconds / 4
        # a send started before this ends (WeChat's timeout) well before the lease does
        self.safe_seconds = ns.lease_seconds - 1.5 * services.settings.wechat.timeout_seconds
        self.answers: queue.SimpleQueue[Answer] = queue.SimpleQueue()
        self.out: dict[str, _Out] = {}
        self.cannot_record = threading.Event()  # no new sends while set
        self.totals = Totals()
        self.renewed_at = time.monotonic()

    def run(self, deadline_seconds: float | None) -> Totals:
        started = time.monotonic()
        claim_more = True  # False after a claim found nothing, until an answer is written
        concurrency = self.services.settings.notify.concurrency
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sender") as pool:
            while True:
                out_of_time = deadline_seconds is not None and time.monotonic() - started >= deadline_seconds
                if claim_more and not out_of_time and not self.cannot_record.is_set() and len(self.out) < 2:
                    claim, claim_more = self._claim()
                    if claim is not None and claim.sends:
                        out = _Out(claim, len(claim.sends), time.monotonic() + self.safe_seconds)
                        self.out[claim.token] = out
                        for send in claim.sends:
                            pool.submit(self._send, out, send)
                    if claim is not None and claim_more and len(self.out) < 2:
                        continue  # overlap the batch on the wire with the next (or only rows were settled)
                    if claim is None and claim_more and not self.out:
                        time.sleep(0.05)  # another process holds the SQLite claim lock
                        continue
                if not self.out:
                    break
                self._renew_leases()
                if self._write(self._gather()):
                    claim_more = True
        if self.totals.claimed:
            t = self.totals
            log.info(
                "sender: %d claimed, %d sent, %d retrying, %d to the next channel, %d failed, %d unknown, "
                "%d settled, %d given back unsent",
                t.claimed, t.sent, t.retrying, t.next_channel, t.failed, t.unknown, t.settled, t.not_sent,
            )  # fmt: skip
        return self.totals

    # ------------------------------------------------------------ claiming and sending

    def _claim(self) -> tuple[sender.Claim | None, bool]:
        """A claimed batch (None: the SQLite claim lock is elsewhere, or the database did not answer) and
        whether to claim again right away."""
        try:
            claim = retry_transaction(lambda: _claim(self.services))
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            log.warning("sender: claiming failed (database error %s); no new sends", error_code(exc))
            return None, False
        if claim is None:
            return None, True
        self.totals.rounds += 1
        self.totals.claimed += len(claim.sends) + claim.settled
        self.totals.settled += claim.settled
        return claim, bool(claim.sends or claim.settled)

    def _send(self, out: _Out, send: sender.Send) -> None:
        token = out.claim.token
        if (
            self.cannot_record.is_set()
            or time.monotonic() > out.safe_until
            or not self._dispatching(token, send)
        ):
            self.answers.put((token, send, None))
            return
        self.answers.put((token, send, _call(self.services.wechat, send)))

    def _dispatching(self, token: str, send: sender.Send) -> bool:
        """A send without client_msg_id (customer-service, 订阅通知) is marked unsure before it goes (it is
        never repeated blindly)."""
        if send.channel not in sender.UNKEYED_CHANNELS:
            return True
        try:
            with session_scope(self.services.session_factory) as session:
                return results.dispatching(session, token, send)
        except DBAPIError:
            return False  # not marked: not sent

    # ------------------------------------------------------------ leases and answers

    def _renew_leases(self) -> None:
        if time.monotonic() - self.renewed_at < self.lease_renew_seconds:
            return
        started = time.monotonic()
        try:
            with session_scope(self.services.session_factory) as session:
                results.renew(session, self.services.settings, list(self.out))
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            return  # not renewed: the claims' sends stop when their safe time ends
        self.renewed_at = started
        for out in self.out.values():
            out.safe_until = started + self.safe_seconds

    def _gather(self) -> list[Answer]:
        """The answers in now: waits a little for the first, then takes what comes within RECORD_SECONDS."""
        try:
            first = self.answers.get(timeout=min(self.lease_renew_seconds, 0.5))
        except queue.Empty:
            return []
        gathered = [first]
        until = time.monotonic() + RECORD_SECONDS
        while (left := until - time.monotonic()) > 0:
            try:
                gathered.append(self.answers.get(timeout=left))
            except queue.Empty:
                break
        return gathered

    def _write(self, gathered: list[Answer]) -> bool:
        """Write the answers, trying until the database takes them (no new sends meanwhile)."""
        if not gathered:
            return False
        by_claim: dict[str, list[Answer]] = defaultdict(list)
        for answer in gathered:
            by_claim[answer[0]].append(answer)
        pause = 0.05
        while True:
            try:
                summary = self._write_once(by_claim)
                break
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
                if not self.cannot_record.is_set():
                    log.warning("sender: results not written (database error %s); sending stops until they are",
                                error_code(exc))  # fmt: skip
                self.cannot_record.set()
                time.sleep(pause)
                pause = min(pause * 2, RECORD_RETRY_MAX_SECONDS)
        if self.cannot_record.is_set():
            log.warning("sender: results written again; sending goes on")
            self.cannot_record.clear()
        self.totals.add(summary)
        for token, answers in by_claim.items():
            self.totals.not_sent += sum(1 for _, _, result in answers if result is None)
            out = self.out[token]
            out.waiting -= len(answers)
            if out.waiting == 0:
                del self.out[token]
        return True

    def _write_once(self, by_claim: dict[str, list[Answer]]) -> results.Summary:
        total = results.Summary()
        with session_scope(self.services.session_factory) as session:
            for token, answers in by_claim.items():
                answered = [result for _, _, result in answers if result is not None]
                if answered:
                    summary = results.record(session, self.services.settings, token, answered)
                    for name in ("sent", "retrying", "next_channel", "failed", "unknown", "lost"):
                        setattr(total, name, getattr(total, name) + getattr(summary, name))
                unsent = [send for _, send, result in answers if result is None]
                if unsent:
                    results.release(session, token, unsent)
        return total


def send_due(services: Services, *, deadline_seconds: float | None = None) -> Totals:
    """Send rounds until nothing is due (or the deadline passes), then move on the conversations whose
    replies WeChat took or refused."""
    totals = _Drain(services).run(deadline_seconds)
    try:
        with session_scope(services.session_factory) as session:
            replies.settle_outcomes(session)
    except DBAPIError as exc:
        if not is_transient(exc):
            raise
        log.warning("sender: settling replies failed (database error %s); next round", error_code(exc))
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
