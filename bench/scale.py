"""The callback on a year of data against the same on an almost empty database (issue 19, "costs that stay
flat as the tables grow"), side by side in the same rounds.

Two MariaDB databases of its own: one loaded in bulk (server-side INSERT ... SELECT from MariaDB's sequence
tables, minutes not hours) with, at --scale 1, 1,000,000 identities, 5,000,000 inbound messages spread over
them and over a year, 200,000 conversations (one in twenty unresolved) and 2,000,000 outbox rows of
history; the other empty. wxbot runs under gunicorn on each (bench/callback.py's settings), both are warmed,
then loaded in rotating rounds with the same kind of signed deliveries (text messages, and the mix of
bench/callback.py: 70 % text and clicks, 30 % TEMPLATESENDJOBFINISH) from followers that exist in the big
database. Printed: requests/s, p50 and p99 of each, the ratio, and the EXPLAIN of every statement the
callback sends for a text message, a click, a report and a repeat on the big database (type ALL would be a
full scan).

    .venv/bin/python bench/scale.py [--scale 1.0] [--requests 2000] [--concurrency 16]

Not measured here (issue 19 asks for them too): the sender's pushes/s, the console's inbox and search
pages, the mini program's pages and the retention job under load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import callback  # noqa: E402

SIZES = {"identities": 1_000_000, "inbound_messages": 5_000_000, "conversations": 200_000,
         "notifications": 2_000_000}  # fmt: skip
CHUNK = 250_000
APPID = callback.APPID + "p"  # the plaintext account the deliveries go to

# Each statement fills rows [a, b] of a table; {n} is the number of identities, whose ids are 1..n (given:
# a bulk insert's auto-increment leaves gaps).
LOAD = {
    "identities": """INSERT INTO identities (id, app_name, appid, kind, openid, subscribed, subscribed_at,
        last_interaction_at, message_window_remaining, action_window_remaining, created_at, updated_at)
        SELECT seq, 'benchplain', '{appid}', 'official', CONCAT('oBench', LPAD(seq - 1, 22, '0')), 1,
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() - INTERVAL (MOD(seq, 86400)) MINUTE, 0, 0,
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
    "inbound_messages": """INSERT INTO inbound_messages (app_name, appid, dedupe_key, identity_id, msg_type,
        msg_id, sent_at, fields, reply, received_at)
        SELECT 'benchplain', '{appid}', CONCAT('m:', seq), 1 + MOD(seq * 7919, {n}), 'text', seq,
        NOW() - INTERVAL (MOD(seq, 31536000)) SECOND, '{{"Content": "你好，请问还招人吗"}}',
        '{{"type": "text", "content": "你好"}}', NOW() - INTERVAL (MOD(seq, 31536000)) SECOND
        FROM seq_{a}_to_{b}""",
    "conversations": """INSERT INTO conversations (identity_id, open_identity_id, state, created_at,
        updated_at, resolved_at)
        SELECT seq, IF(MOD(seq, 20) = 0 AND seq > 1000, seq, NULL), IF(MOD(seq, 20) = 0 AND seq > 1000, 'open',
        'resolved'), NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW(), NOW() FROM seq_{a}_to_{b}""",
    "notifications": """INSERT INTO notifications (purpose, identity_id, content, channels, status, attempts,
        ended_channels, urgent, sent_app, msgid, sent_at, created_at, updated_at)
        SELECT 'application_status', 1 + MOD(seq * 7919, {n}), '{{"text": "状态更新"}}', 'template',
        ELT(1 + MOD(seq, 3), 'delivered', 'failed', 'skipped'), 1, '', 0, 'benchplain', CONCAT(seq),
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
}


def load_tables(url: str, scale: float) -> dict[str, int]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    counts = {table: max(1000, int(size * scale)) for table, size in SIZES.items()}
    with engine.connect() as conn:
        for table, count in counts.items():
            for a in range(1, count + 1, CHUNK):
                b = min(count, a + CHUNK - 1)
                conn.exec_driver_sql(LOAD[table].format(appid=APPID, n=counts["identities"], a=a, b=b))
        for table in counts:
            conn.exec_driver_sql(f"ANALYZE TABLE {table}")
    engine.dispose()
    return counts


def explain(app: Any) -> list[str]:
    """EXPLAIN of every statement the callback sends on the big database for a text message, a click, a
    report and a repeat: (type, table, key, rows, statement)."""
    from werkzeug.test import EnvironBuilder

    engine = app.extensions["wxbot"].engine
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            seen.append((statement, parameters))

    requests = [r for mode in ("plaintext", "mix") for r in callback.make_requests(10, mode)]
    requests.append(requests[0])  # WeChat's retry of the first
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for target, body in requests:
            path, _, query = target.partition("?")
            environ = EnvironBuilder(path=path, query_string=query, method="POST", data=body,
                                     content_type="text/xml").get_environ()  # fmt: skip
            b"".join(app(environ, lambda *a, **k: None))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    lines, done = [], set()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in seen:
            shape = " ".join(statement.split())[:90]
            if shape in done:
                continue
            done.add(shape)
            cursor.execute("EXPLAIN " + statement, parameters)
            names = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                plan = dict(zip(names, row, strict=True))
                if plan["select_type"] == "INSERT":
                    continue  # the table an INSERT writes shows as ALL: it is written, not read
                kind = plan["type"] or f"- ({plan['Extra']})"  # e.g. a subquery decided without reading rows
                lines.append(f"  {kind!s:<7} {plan['table']!s:<17} {plan['key']!s:<38} "
                             f"{plan['rows']!s:>7}  {shape[:60]}")  # fmt: skip
        raw.rollback()
    finally:
        raw.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: the sizes above; 0.1: a tenth")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per database and mode")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=1800, help="time limit of the whole run")
    parser.add_argument("--database-url", default=os.environ.get("WXBOT_BENCH_DATABASE_URL",
                        "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"))  # fmt: skip
    parser.add_argument(
        "--redis-url", default=os.environ.get("WXBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.max_seconds
    modes = ("plaintext", "mix")

    import wxbot.models  # noqa: F401  (registers the tables)
    from wxbot.db import Base

    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = {"full": f"wxbot_scale_{tag}", "empty": f"wxbot_scale_empty_{tag}"}
    prefix = f"wxbot-scale:{uuid.uuid4().hex[:8]}:"
    server = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for name in names.values():
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    urls = {db: callback.database_url_for(args.database_url, name) for db, name in names.items()}
    processes = []
    try:
        for url in urls.values():
            engine = sa.create_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
        loading = time.monotonic()
        counts = load_tables(urls["full"], args.scale)
        load_seconds = time.monotonic() - loading
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            configs = {db: callback.write_config(var / f"{db}.toml", var, url, args.redis_url, f"{prefix}{db}:")
                       for db, url in urls.items()}  # fmt: skip
            ports = {db: callback.free_port() for db in urls}
            processes = [callback.gunicorn("wsgi:app", ports[db], args, {**env, "WXBOT_CONFIG": str(configs[db])})
                         for db in urls]  # fmt: skip
            for port, process in zip(ports.values(), processes, strict=True):
                callback.wait_for_port(port, process)
            for mode in modes:
                for db in urls:
                    callback.load(
                        ports[db], callback.make_requests(args.warmup, mode), args.concurrency, deadline
                    )
            results = {(db, mode): callback.Result([], 0.0, 0) for db in urls for mode in modes}
            per_round = max(1, args.requests // args.rounds)
            order = list(urls)
            for round_number in range(args.rounds):
                for mode in modes:
                    for db in order[round_number % 2 :] + order[: round_number % 2]:
                        part = callback.load(ports[db], callback.make_requests(per_round, mode), args.concurrency,
                                             deadline)  # fmt: skip
                        total = results[(db, mode)]
                        total.latencies += part.latencies
                        total.seconds += part.seconds
                        total.errors += part.errors
            os.environ["WXBOT_CONFIG"] = str(configs["full"])
            from wxbot import create_app

            plans = explain(create_app())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except Exception:
                process.kill()
        with server.connect() as conn:
            for name in names.values():
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()
        client = redis.Redis.from_url(args.redis_url)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()

    print(f"\nscale benchmark (--scale {args.scale:g}): loaded {', '.join(f'{n:,} {t}' for t, n in counts.items())} "
          f"in {load_seconds:.0f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"{args.requests} requests per database and mode in {args.rounds} rounds, {args.concurrency} concurrent, "
          f"gunicorn --workers {args.workers} --threads {args.threads}")  # fmt: skip
    print(
        f"{'database':<9} {'mode':<10} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for (db, mode), r in sorted(results.items(), key=lambda kv: (modes.index(kv[0][1]), kv[0][0])):
        print(f"{db:<9} {mode:<10} {len(r.latencies):>8} {r.errors:>6} {r.rps:>8.0f} "
              f"{r.percentile(0.50):>7.1f} {r.percentile(0.99):>7.1f}")  # fmt: skip
    for mode in modes:
        full, empty = results[("full", mode)], results[("empty", mode)]
        print(f"{mode}: full/empty requests/s = {full.rps / empty.rps if empty.rps else 0:.2f}, "
              f"p99 {full.percentile(0.99) / empty.percentile(0.99) if empty.latencies else 0:.2f}x")  # fmt: skip
    print("EXPLAIN of the callback's statements on the full database (type, table, key, rows, statement):")
    print("\n".join(plans))
    print(f"run took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
