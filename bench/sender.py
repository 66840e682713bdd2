"""Benchmark of the push sender (issue 5, "Tests and figures").

A backlog of pushes (default 20,000 template messages to as many followers) goes through the sender against
the sandbox WeChat, which waits 50 ms before answering each send. First one sender process drains it (the
baseline), then, with the same backlog, two sender processes at once. Prints pushes/s for each, the ratio,
and checks that every push was sent exactly once. Goal: at least 300 pushes/s from one process, and near
double with two.

    .venv/bin/python bench/sender.py [--pushes 20000] [--latency 0.05] [--batch 200] [--concurrency 32]
                                     [--sandbox-processes 2]

The sandbox stands in for WeChat, whose capacity is not what is measured: it is served by forked copies of
one state (followers and token set up before the fork) accepting on one socket, and their records are added
up for the exactly-once check.

Bounded: a fixed backlog and a time limit per run; loopback only; its own MariaDB database (created and
dropped) and Redis key prefix (deleted afterwards). Needs MariaDB and Redis (WXBOT_BENCH_DATABASE_URL,
WXBOT_BENCH_REDIS_URL; defaults: root@127.0.0.1:3306 and redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

import wxbot.models  # noqa: E402, F401
from wxbot import clock  # noqa: E402
from wxbot.db import Base  # noqa: E402
from wxbot.models import Identity, Notification  # noqa: E402
from wxbot.push.enqueue import lane_of  # noqa: E402
from wxbot.sandbox import SandboxState, create_sandbox_app  # noqa: E402

SERVER_URL = os.environ.get(
    "WXBOT_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"
)
REDIS_URL = os.environ.get("WXBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
APPID, SECRET = "wxbenchoa0000001", "bench-secret"
TEMPLATE = "/cgi-bin/message/template/send"
RUN_LIMIT_SECONDS = 600
SENDER = """
import json, os, time
from jobs.sender import send_due
from wxbot.config import settings_from_dict
from wxbot.services import build_services
services = build_services(settings_from_dict(json.loads(os.environ["BENCH_CONFIG"]), env={}))

services.wechat  # built before the clock starts, as in a long-running jobs process
started = time.time()
totals = send_due(services)
print(json.dumps({"started": started, "ended": time.time(), "sent": totals.sent, "claimed": totals.claimed,
                  "lost": totals.lost, "retrying": totals.retrying, "failed": totals.failed}))
"""


class QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as WeChat's servers

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def start_sandbox() -> tuple[SandboxState, Any]:
    state = SandboxState()
    state.add_app(APPID, SECRET, "official")
    server = make_server(
        "127.0.0.1", 0, create_sandbox_app(state), threaded=True, request_handler=QuietHandler
    )
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_port}"
    return state, server


def _serve_child(server: Any, state: SandboxState, conn: Any) -> None:
    threading.Thread(target=server.serve_forever, name="sandbox", daemon=True).start()
    conn.recv()
    conn.send(Counter(c.body["touser"] for c in state.calls(TEMPLATE) if c.errcode == 0))


class SandboxProcesses:
    """The sandbox WeChat served by several forked copies of one state, accepting on one socket: WeChat's
    capacity is not what is measured, and one Python process answering every send became the limit. Each copy
    knows the followers and the token issued before the fork, and reports the sends it received."""

    def __init__(self, server: Any, state: SandboxState, count: int) -> None:
        context = multiprocessing.get_context("fork")
        self._pipes = []
        self._children = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_serve_child, args=(server, state, child), daemon=True)
            process.start()
            self._pipes.append(parent)
            self._children.append(process)

    def received(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for pipe in self._pipes:
            pipe.send("stop")
            total.update(pipe.recv())
        for process in self._children:
            process.terminate()
            process.join()
        return total


def config(db_url: str, base_url: str, prefix: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "app": {"environment": "development", "secret_key": "bench", "log_level": "WARNING"},
        "database": {"url": db_url},
        "redis": {"url": REDIS_URL, "prefix": prefix},
        "wechat": {
            "api_base_url": base_url,
            "official": [{"name": "oa", "appid": APPID, "appsecret": SECRET, "token": "benchtoken"}],
        },
        "scheduler": {"embedded": False},
        "platform": {"secret": "bench"},
        "security": {
            "pii_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
            "hash_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        },
        "notify": {
            "quiet_hours_start": "",  # measured on the real clock, whatever the hour in Shanghai
            "quiet_hours_end": "",
            "daily_cap": 0,
            "batch_size": args.batch,
            "concurrency": args.concurrency,
            "templates": {
                "status_viewed": {
                    "oa": {
                        "template_id": "bench-tid",
                        "fields": {"thing1": "{job_title}", "thing2": "{company}"},
                    }
                }
            },
        },  # fmt: skip
    }


def fill_backlog(engine: sa.Engine, state: SandboxState, pushes: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in ("notifications", "identities"):
            # not DELETE: InnoDB would purge the previous run's rows in the background during this one
            conn.exec_driver_sql(f"TRUNCATE TABLE {table}")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        conn.execute(
            sa.insert(Identity),
            [
                {"app_name": "oa", "appid": APPID, "kind": "official", "openid": f"o-{i}", "subscribed": True}
                for i in range(pushes)
            ],  # fmt: skip
        )
        ids = [row[0] for row in conn.execute(sa.select(Identity.id).order_by(Identity.id))]
        due = clock.now()
        content = {
            "template": {
                "key": "status_viewed",
                "data": {"job_title": "后端开发工程师", "company": "示例科技"},
            }
        }
        conn.execute(
            sa.insert(Notification),
            [
                {
                    "purpose": "bench",
                    "identity_id": identity_id,
                    "lane": lane_of(identity_id, None),
                    "content": content,
                    "channels": "template",
                    "status": "pending",
                    "next_attempt_at": due,
                    "attempts": 0,
                    "ended_channels": "",
                    "urgent": False,
                    "dedupe_key": f"bench-{identity_id}",
                }
                for identity_id in ids
            ],  # fmt: skip
        )
    for i in range(pushes):
        state.set_follower(APPID, f"o-{i}")


def run(
    processes: int,
    cfg: dict[str, Any],
    engine: sa.Engine,
    state: SandboxState,
    server: Any,
    args: argparse.Namespace,
) -> float:
    state.reset()
    fill_backlog(engine, state, args.pushes)
    state.inject(TEMPLATE, latency=args.latency, times=None)
    state.issue_stable_token(APPID, SECRET, False)  # before the fork: every copy knows it
    sandboxes = SandboxProcesses(server, state, args.sandbox_processes)
    env = {**os.environ, "BENCH_CONFIG": json.dumps(cfg), "PYTHONPATH": str(ROOT)}
    senders = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )  # fmt: skip
        for _ in range(processes)
    ]
    results = []
    for sender in senders:
        out, err = sender.communicate(timeout=RUN_LIMIT_SECONDS)
        if sender.returncode != 0:
            raise SystemExit(f"sender failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    sent = sum(r["sent"] for r in results)
    received = sandboxes.received()
    with engine.connect() as conn:
        unsent = conn.scalar(
            sa.select(sa.func.count()).select_from(Notification).where(Notification.status != "sent")
        )
    exactly_once = len(received) == args.pushes and set(received.values()) == {1} and unsent == 0
    share = ", ".join(str(r["sent"]) for r in results)
    print(f"{processes} process(es): {sent} pushes in {seconds:.1f} s = {sent / seconds:.0f} pushes/s "
          f"(per process: {share}; exactly once: {'yes' if exactly_once else 'NO'})")  # fmt: skip
    if not exactly_once:
        raise SystemExit(f"not exactly once: {len(received)} followers reached, {unsent} rows not sent")
    return sent / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the sandbox waits per send")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sandbox-processes", type=int, default=2)
    args = parser.parse_args()

    server_engine = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    name = f"wxbot_bench_{uuid.uuid4().hex[:8]}"
    with server_engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    base, _, query = SERVER_URL.partition("?")
    db_url = f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}"
    prefix = f"wxbot-bench:{uuid.uuid4().hex[:8]}:"
    engine = sa.create_engine(db_url)
    state, server = start_sandbox()
    try:
        Base.metadata.create_all(engine)
        cfg = config(db_url, state.base_url, prefix, args)
        print(f"backlog {args.pushes} template pushes, sandbox latency {args.latency * 1000:.0f} ms, "
              f"batch {args.batch}, {args.concurrency} requests in flight per process "
              f"(ceiling {args.concurrency / args.latency:.0f} pushes/s per process)")  # fmt: skip
        one = run(1, cfg, engine, state, server, args)
        two = run(2, cfg, engine, state, server, args)
        print(f"two processes / one process: {two / one:.2f}x")
    finally:
        server.server_close()
        engine.dispose()
        with server_engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server_engine.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


if __name__ == "__main__":
    main()
