"""The jobs part of bench/scale.py: the push sender's pushes/s on the full and the near-empty database, and the
retention job deleting a month of expired rows while the callback is under load.

Sender: bench/sender.py's sandbox WeChat (forked copies of one state, a latency per send) and its settings; a
backlog of template pushes to as many new followers is enqueued into one database, then drained by one sender
process (`jobs.sender.send_due`, as `wxbot jobs` runs it); databases alternate over the rounds, a fresh backlog
each time, and every push must reach the sandbox exactly once.

Retention: `jobs.retention.run_retention` in a process of its own on the full database, whose periods
(bench/scale.py's config: 335 days for inbound messages and outbox rows) leave about a month of the year
expired; the callback's p99 meanwhile against its p99 just before and just after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import callback, sender

ROOT = Path(__file__).resolve().parent.parent
PREAMBLE = """
import json, os, sys, time
from bench import scale_explain
"""
SENDER = (
    PREAMBLE
    + """
from jobs.sender import send_due
from wxbot.config import settings_from_dict
from wxbot.services import build_services
services = build_services(settings_from_dict(json.loads(os.environ["BENCH_CONFIG"]), env={}))
services.wechat  # built before the clock starts, as in a long-running jobs process
with scale_explain.recording(services.engine) as seen:
    started = time.time()
    totals = send_due(services)
    ended = time.time()
plans = scale_explain.plans(services.engine, seen, "[sender] ") if os.environ.get("BENCH_EXPLAIN") else []
print(json.dumps({"started": started, "ended": ended, "sent": totals.sent, "plans": plans}))
"""
)
RETENTION = (
    PREAMBLE
    + """
from jobs.retention import run_retention
from wxbot.config import load_settings
from wxbot.services import build_services
services = build_services(load_settings(os.environ["WXBOT_CONFIG"]))
print("ready", flush=True)
with scale_explain.recording(services.engine) as seen:
    started = time.time()
    results = run_retention(services, force=True)
    ended = time.time()
plans = scale_explain.plans(services.engine, seen, "[retention] ")
print(json.dumps({"seconds": ended - started, "plans": plans,
                  "deleted": {k: v.deleted + v.anonymised for k, v in results.items() if v is not None}}))
"""
)


def _python(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT), **env},  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip


def fill_backlog(url: str, state: Any, pushes: int, tag: str) -> None:
    """`pushes` new followers of the sender's account, each with one template push due now."""
    from wxbot import clock
    from wxbot.models import Identity, Notification
    from wxbot.push.enqueue import lane_of

    engine = sa.create_engine(url)
    openids = [f"s{tag}-{i}" for i in range(pushes)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Identity), [{"app_name": "oa", "appid": sender.APPID, "kind": "official",
                                            "openid": o, "subscribed": True} for o in openids])  # fmt: skip
        ids = list(conn.scalars(sa.select(Identity.id).where(Identity.appid == sender.APPID,
                                                             Identity.openid.in_(openids))))  # fmt: skip
        content = {
            "template": {
                "key": "status_viewed",
                "data": {"job_title": "后端开发工程师", "company": "示例科技"},
            }
        }
        conn.execute(sa.insert(Notification), [{"purpose": "bench", "identity_id": i, "lane": lane_of(i, None),
                                                "content": content, "channels": "template", "status": "pending",
                                                "next_attempt_at": clock.now(), "attempts": 0, "ended_channels": "",
                                                "urgent": False, "dedupe_key": f"bench-{tag}-{i}"}
                                               for i in ids])  # fmt: skip
    engine.dispose()
    for openid in openids:
        state.set_follower(sender.APPID, openid)


def sender_rounds(
    urls: dict[str, str], args: Any, redis_prefix: str
) -> tuple[dict[str, list[float]], list[str]]:
    """pushes/s of each round per database, and the EXPLAIN of the sender's statements on the full one."""
    state, server = sender.start_sandbox()
    settings = {"batch": 200, "concurrency": 32}
    rates: dict[str, list[float]] = {db: [] for db in urls}
    plans: list[str] = []
    try:
        order = list(urls)
        for round_number in range(args.sender_rounds):
            for db in order[round_number % 2 :] + order[: round_number % 2]:
                state.reset()
                fill_backlog(urls[db], state, args.pushes, f"{round_number}{db[0]}")
                state.inject(sender.TEMPLATE, latency=args.sender_latency, times=None)
                state.issue_stable_token(
                    sender.APPID, sender.SECRET, False
                )  # before the fork: every copy knows it
                sandboxes = sender.SandboxProcesses(server, state, 2)
                cfg = sender.config(urls[db], state.base_url, f"{redis_prefix}sender-{db}:",
                                    argparse_like(**settings))  # fmt: skip
                explain = db == "full" and not plans
                process = _python(
                    SENDER, {"BENCH_CONFIG": json.dumps(cfg), "BENCH_EXPLAIN": "1" if explain else ""}
                )
                out, err = process.communicate(timeout=600)
                received = sandboxes.received()
                if process.returncode != 0:
                    raise SystemExit(f"sender failed:\n{err[-3000:]}")
                result = json.loads(out.strip().splitlines()[-1])
                if len(received) != args.pushes or set(received.values()) != {1}:
                    raise SystemExit(f"{db}: not exactly once: {len(received)} followers reached")
                rates[db].append(result["sent"] / (result["ended"] - result["started"]))
                plans += result["plans"]
    finally:
        server.server_close()
    return rates, plans


class argparse_like:  # noqa: N801  (what bench/sender.py's config() reads of its arguments)
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def retention_under_load(port: int, config: Path, args: Any, deadline: float) -> dict[str, Any]:
    """The callback's latencies just before, during and just after the retention job on the full database."""

    def load(count: int) -> callback.Result:
        return callback.load(port, callback.make_requests(count, "mix"), args.concurrency, deadline)

    before = load(args.requests // 2)
    process = _python(RETENTION, {"WXBOT_CONFIG": str(config)})
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit(f"retention job failed:\n{process.communicate()[1][-3000:]}")
    during = callback.Result([], 0.0, 0)
    while process.poll() is None and time.monotonic() < deadline:
        part = load(100)
        during.latencies += part.latencies
        during.seconds += part.seconds
        during.errors += part.errors
    out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    if process.returncode != 0:
        raise SystemExit(f"retention job failed:\n{err[-3000:]}")
    after = load(args.requests // 2)
    result = json.loads(out.strip().splitlines()[-1])
    without = callback.Result(before.latencies + after.latencies, before.seconds + after.seconds,
                              before.errors + after.errors)  # fmt: skip
    return {"without": without, "during": during, **result}
