"""Costs that stay flat as the tables grow (issue 19): the same measurements on a database holding a year of
data and on an almost empty one, side by side in the same run.

Two MariaDB databases of its own: the full one bulk-loaded (bench/scale_load.py: at --scale 1, 1,000,000
follower identities, 5,000,000 inbound messages, 200,000 conversations, 2,000,000 outbox rows, 300,000
accounts with 600,000 applications, ...), the near-empty one not; both then get the same small fixture (an
agent, 60 open conversations, a mini-program user with 20 applications). Measured on both, every figure printed
beside its near-empty baseline:

- the callback under gunicorn (bench/callback.py's settings and signed deliveries: text messages, and the
  mix of text, clicks and TEMPLATESENDJOBFINISH), in rotating rounds: requests/s, p50, p99;
- the console's inbox (page 1 and page 50) and search (an openid, a phrase), the mini program's `me`,
  `applications` and export: p50 and p99 per page (bench/scale_pages.py);
- the push sender's pushes/s draining a backlog of template pushes against the sandbox WeChat with latency
  (bench/scale_jobs.py);
- on the full database only, against itself: the callback's p99 while the retention job deletes a month of
  expired rows, and without it (bench/scale_jobs.py).

Then the EXPLAIN of every statement these send on the full database (bench/scale_explain.py), and the full
scans (type ALL) among them.

    .venv/bin/python bench/scale.py [--scale 1.0] [--requests 2000] [--page-requests 100] [--pushes 5000]
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

from bench import callback, scale_explain, scale_jobs, scale_load, scale_pages  # noqa: E402

APPID = callback.APPID + "p"  # the plaintext account the deliveries go to
EXTRA_CONFIG = f"""
[[wechat.miniprogram]]
name = "{scale_load.MP_NAME}"
appid = "{scale_load.MP_APPID}"
appsecret = "s"
[retention]
inbound_messages_days = 335
notifications_days = 335
resolved_conversations_days = 335
"""  # a year of data less 335 days leaves a month expired


def explain_callback(app: Any) -> list[str]:
    """EXPLAIN of every statement the callback sends on the big database for a text message, a click, a
    report and a repeat."""
    from werkzeug.test import EnvironBuilder

    requests = [r for mode in ("plaintext", "mix") for r in callback.make_requests(10, mode)]
    requests.append(requests[0])  # WeChat's retry of the first
    engine = app.extensions["wxbot"].engine
    with scale_explain.recording(engine) as seen:
        for target, body in requests:
            path, _, query = target.partition("?")
            environ = EnvironBuilder(path=path, query_string=query, method="POST", data=body,
                                     content_type="text/xml").get_environ()  # fmt: skip
            b"".join(app(environ, lambda *a, **k: None))
    return scale_explain.plans(engine, seen, "[callback] ")


def callback_rounds(ports: dict[str, int], args: argparse.Namespace, deadline: float) -> dict[Any, Any]:
    modes = ("plaintext", "mix")
    for mode in modes:
        for port in ports.values():
            callback.load(port, callback.make_requests(args.warmup, mode), args.concurrency, deadline)
    results = {(db, mode): callback.Result([], 0.0, 0) for db in ports for mode in modes}
    per_round = max(1, args.requests // args.rounds)
    order = list(ports)
    for round_number in range(args.rounds):
        for mode in modes:
            for db in order[round_number % 2 :] + order[: round_number % 2]:
                part = callback.load(ports[db], callback.make_requests(per_round, mode), args.concurrency,
                                     deadline)  # fmt: skip
                total = results[(db, mode)]
                total.latencies += part.latencies
                total.seconds += part.seconds
                total.errors += part.errors
    return results


def ms(latencies: list[float], p: float) -> float:
    return callback.Result(latencies, 0.0, 0).percentile(p)


def report(args: argparse.Namespace, counts: dict[str, int], load_seconds: float, results: dict[Any, Any],
           page_times: dict[Any, list[float]], rates: dict[str, list[float]], retention: dict[str, Any],
           plans: list[str]) -> None:  # fmt: skip
    print(f"\nscale benchmark (--scale {args.scale:g}): loaded {', '.join(f'{n:,} {t}' for t, n in counts.items())} "
          f"in {load_seconds:.0f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"\ncallback: {args.requests} requests per database and mode in {args.rounds} rounds, "
          f"{args.concurrency} concurrent, gunicorn --workers {args.workers} --threads {args.threads}")  # fmt: skip
    print(
        f"{'database':<9} {'mode':<10} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for (db, mode), r in sorted(results.items(), key=lambda kv: (kv[0][1] != "plaintext", kv[0][0])):
        print(f"{db:<9} {mode:<10} {len(r.latencies):>8} {r.errors:>6} {r.rps:>8.0f} "
              f"{r.percentile(0.50):>7.1f} {r.percentile(0.99):>7.1f}")  # fmt: skip
    for mode in ("plaintext", "mix"):
        full, empty = results[("full", mode)], results[("empty", mode)]
        print(f"{mode}: full/empty requests/s = {full.rps / empty.rps if empty.rps else 0:.2f}, "
              f"p99 {full.percentile(0.99) / empty.percentile(0.99) if empty.latencies else 0:.2f}x")  # fmt: skip
    print(f"\npages: up to {args.page_requests} requests per page and database, one at a time, in process")
    print(f"{'page':<16} {'empty n':>7} {'p50 ms':>7} {'p99 ms':>7} {'full n':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'p50 x':>6} {'p99 x':>6}")  # fmt: skip
    for name in dict.fromkeys(page for page, _ in page_times):
        empty, full = page_times[(name, "empty")], page_times[(name, "full")]
        print(f"{name:<16} {len(empty):>7} {ms(empty, 0.5):>7.1f} {ms(empty, 0.99):>7.1f} {len(full):>7} "
              f"{ms(full, 0.5):>7.1f} {ms(full, 0.99):>7.1f} {ms(full, 0.5) / ms(empty, 0.5):>6.2f} "
              f"{ms(full, 0.99) / ms(empty, 0.99):>6.2f}")  # fmt: skip
    one, fifty = page_times[("inbox page 1", "full")], page_times[("inbox page 50", "full")]
    print(f"full: inbox page 50 / page 1 = {ms(fifty, 0.5) / ms(one, 0.5):.2f}x (p50), "
          f"{ms(fifty, 0.99) / ms(one, 0.99):.2f}x (p99); {counts['conversations'] // 20:,} open conversations, "
          f"{max(1, counts['conversations'] // 20 // 50)} pages")  # fmt: skip
    print(f"\nsender: {args.pushes} template pushes per round, sandbox latency {args.sender_latency * 1000:.0f} ms, "
          f"one sender process, batch 200, 32 in flight")  # fmt: skip
    for db, values in rates.items():
        print(f"{db:<9} pushes/s per round: {', '.join(f'{v:.0f}' for v in values)}; "
              f"mean {sum(values) / len(values):.0f}")  # fmt: skip
    mean = {db: sum(v) / len(v) for db, v in rates.items()}
    print(f"sender: full/empty pushes/s = {mean['full'] / mean['empty']:.2f}")
    without, during = retention["without"], retention["during"]
    print(f"\nretention on the full database: deleted {retention['deleted']} in {retention['seconds']:.1f} s; "
          "the callback (mix) meanwhile and without it (just before and after):")  # fmt: skip
    for name, r in (("without", without), ("during", during)):
        print(f"{name:<9} {len(r.latencies):>8} requests {r.errors:>4} errors {r.rps:>6.0f} req/s "
              f"p50 {r.percentile(0.5):>6.1f} ms p99 {r.percentile(0.99):>7.1f} ms")  # fmt: skip
    if during.latencies and without.latencies:
        print(f"retention: p99 during / without = {during.percentile(0.99) / without.percentile(0.99):.2f}x")
    print("\nEXPLAIN on the full database (type, table, key, rows, [part] statement):")
    print("\n".join(plans))
    big, small = scale_explain.full_scans(plans)
    print(f"full scans (type ALL) of 1,000 rows or more: {len(big)}" + "".join(f"\n{line}" for line in big))
    print(f"type ALL of fewer rows (tables of a few rows, materialised subqueries): {len(small)}")
    whole, _ = scale_explain.full_scans(plans, "index")
    print(
        f"whole-index scans (type index) of 1,000 rows or more: {len(whole)}"
        + "".join(f"\n{line}" for line in whole)
    )


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
    parser.add_argument("--page-requests", type=int, default=100, help="per page and database")
    parser.add_argument("--page-seconds", type=float, default=60, help="time limit per page and database")
    parser.add_argument("--pushes", type=int, default=5000, help="the sender's backlog per round")
    parser.add_argument("--sender-rounds", type=int, default=2, help="per database, alternating")
    parser.add_argument(
        "--sender-latency", type=float, default=0.05, help="seconds the sandbox waits per send"
    )
    parser.add_argument("--max-seconds", type=float, default=3600, help="time limit of the whole run")
    parser.add_argument("--database-url", default=os.environ.get("WXBOT_BENCH_DATABASE_URL",
                        "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"))  # fmt: skip
    parser.add_argument(
        "--redis-url", default=os.environ.get("WXBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.max_seconds

    import wxbot.models  # noqa: F401  (registers the tables)
    from wxbot import create_app
    from wxbot.config import load_settings
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
        counts = scale_load.load_tables(urls["full"], args.scale, APPID)
        load_seconds = time.monotonic() - loading
        print(f"loaded in {load_seconds:.0f} s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            configs = {db: callback.write_config(var / f"{db}.toml", var, url, args.redis_url, f"{prefix}{db}:")
                       for db, url in urls.items()}  # fmt: skip
            for path in configs.values():
                path.write_text(path.read_text(encoding="utf-8") + EXTRA_CONFIG, encoding="utf-8")
            apps = {db: create_app(load_settings(configs[db]), start_scheduler=False) for db in urls}
            fixtures = {db: scale_load.seed_fixture(apps[db], APPID) for db in urls}
            ports = {db: callback.free_port() for db in urls}
            processes = [callback.gunicorn("wsgi:app", ports[db], args, {**env, "WXBOT_CONFIG": str(configs[db])})
                         for db in urls]  # fmt: skip
            for port, process in zip(ports.values(), processes, strict=True):
                callback.wait_for_port(port, process)
            results = callback_rounds(ports, args, deadline)
            print("callback measured", flush=True)
            visitors = {db: scale_pages.Visitor(apps[db], fixtures[db], args.redis_url, f"{prefix}{db}:")
                        for db in urls}  # fmt: skip
            page_times = scale_pages.measure(visitors, fixtures["full"], args.page_requests, args.rounds,
                                             args.page_seconds)  # fmt: skip
            print("pages measured", flush=True)
            rates, sender_plans = scale_jobs.sender_rounds(urls, args, prefix)
            print("sender measured", flush=True)
            plans = explain_callback(apps["full"]) + scale_pages.explain(visitors["full"], fixtures["full"])
            retention = scale_jobs.retention_under_load(ports["full"], configs["full"], args, deadline)
            plans += sender_plans + retention["plans"]
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
    report(args, counts, load_seconds, results, page_times, rates, retention, plans)
    print(f"run took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
