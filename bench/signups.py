"""Benchmark of event sign-ups under contention (issue 6, "Tests and figures").

On MariaDB, N people sign up for one event at the same moment (threads, each sign-up in its own session and
transaction, as web workers make them), in three settings run back to back with the same people:

  contended   one event with 50 seats: every sign-up takes the event's row lock; 50 seats, the rest queue
  unlimited   the same on one event without a capacity (same lock, no waiting list): the baseline for
              what the seat counting and the waiting list cost
  spread      the same sign-ups over 50 events of 50 seats (little lock contention): the baseline for what
              serialising on one event's row costs

It prints sign-ups per second, p50 and p99 latency of each, and checks that the contended event ended with
exactly 50 confirmed and the rest waitlisted, in order.

    .venv/bin/python bench/signups.py [--signups 300] [--threads 32] [--rounds 3]
        [--database-url mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4]

Bounded: a fixed number of sign-ups per round; loopback MariaDB only; its own database, created and dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

import wxbot.models  # noqa: E402, F401
from wxbot import clock  # noqa: E402
from wxbot.campus import schedule, signups, spec, views  # noqa: E402
from wxbot.db import Base, make_engine, make_session_factory, session_scope  # noqa: E402
from wxbot.models.campus import EventSignup  # noqa: E402
from wxbot.models.identity import Account  # noqa: E402
from wxbot.privacy.pii import PiiKeys  # noqa: E402

SEATS = 50
ANSWERS = {"name": "张三", "phone": "13812345678"}


def event_body(event_id: str, capacity: int | None) -> dict:
    start = clock.now() + timedelta(days=7)
    iso = lambda t: t.isoformat() + "+00:00"  # noqa: E731
    return {
        "event_id": event_id, "kind": "talk", "title": "bench", "organiser": "bench", "venue": "hall",
        "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=2)), "capacity": capacity,
        "fields": ["name", "phone"],
    }  # fmt: skip


def run_round(factory, pii, account_ids, event_for, threads):
    """Every account signs up once, all released together; returns (seconds, latencies, statuses)."""
    barrier = threading.Barrier(min(threads, len(account_ids)))
    latencies: list[float] = []
    statuses: list[str] = []
    lock = threading.Lock()

    def sign(i: int) -> None:
        if i < threads:
            barrier.wait()
        began = time.perf_counter()
        with session_scope(factory) as session:
            row = signups.signup(session, pii, event_id=event_for(i), account_id=account_ids[i], identity_id=None,
                                answers=ANSWERS, consent_event_data=True)  # fmt: skip
            status = row.status
        with lock:
            latencies.append(time.perf_counter() - began)
            statuses.append(status)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(sign, range(len(account_ids))))
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signups", type=int, default=300)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "WXBOT_TEST_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"
        ),
    )
    args = parser.parse_args()
    if not 1 <= args.signups <= 5000 or not 1 <= args.threads <= 64 or not 1 <= args.rounds <= 10:
        raise SystemExit("bounded: --signups 1..5000, --threads 1..64, --rounds 1..10")

    server = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"wxbot_bench_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    base, _, query = args.database_url.partition("?")
    engine = make_engine(f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}")
    try:
        Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        pii = PiiKeys([os.urandom(32)], os.urandom(32))
        with session_scope(factory) as session:
            accounts = [Account(platform_account_id=f"bench-{i}") for i in range(args.signups)]
            session.add_all(accounts)
            session.flush()
            account_ids = [a.id for a in accounts]

        settings = {
            "contended": (lambda r: [(f"c{r}", SEATS)], lambda r: lambda i: f"c{r}"),
            "unlimited": (lambda r: [(f"u{r}", None)], lambda r: lambda i: f"u{r}"),
            "spread": (
                lambda r: [(f"s{r}-{k}", SEATS) for k in range(50)],
                lambda r: lambda i: f"s{r}-{i % 50}",
            ),
        }
        results: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in settings}
        for r in range(args.rounds):
            for label, (make_events, route) in settings.items():
                with session_scope(factory) as session:
                    for event_id, capacity in make_events(r):
                        schedule.upsert_event(session, spec.parse_event(event_body(event_id, capacity)))
                seconds, latencies, statuses = run_round(factory, pii, account_ids, route(r), args.threads)
                results[label].append((seconds, latencies))
                if label == "contended":
                    check_contended(factory, f"c{r}", args.signups, statuses)

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"event sign-ups on MariaDB: {args.signups} sign-ups at once, {args.threads} threads, "
              f"median of {args.rounds} rounds; {os.cpu_count()} cores, load average {load}")  # fmt: skip
        print(f"{'setting':<11} {'sign-ups/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
        rates = {}
        for label, runs in results.items():
            seconds, latencies = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            rates[label] = args.signups / seconds
            print(f"{label:<11} {rates[label]:>10.0f} {percentile(latencies, 0.5):>8.1f} "
                  f"{percentile(latencies, 0.99):>8.1f}")  # fmt: skip
        print(f"contended / unlimited: {rates['contended'] / rates['unlimited']:.2f}; "
              f"contended / spread: {rates['contended'] / rates['spread']:.2f}")  # fmt: skip
    finally:
        engine.dispose()
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()


def check_contended(factory, event_id: str, signups: int, statuses: list[str]) -> None:
    with session_scope(factory) as session:
        event = views.get_event(session, event_id)
        rows = list(
            session.scalars(
                sa.select(EventSignup)
                .where(EventSignup.event_id == event.id)
                .order_by(EventSignup.queue_number)
            )
        )
        expected = ["confirmed"] * min(SEATS, signups) + ["waitlisted"] * max(signups - SEATS, 0)
        if [r.status for r in rows] != expected or sorted(statuses) != sorted(expected):
            raise SystemExit(f"{event_id}: capacity or order broken")


if __name__ == "__main__":
    main()
