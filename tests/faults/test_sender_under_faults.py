"""The push sender under faults, on the suite's own MariaDB and Redis, against the sandbox WeChat (which keeps
one message per openid and client_msg_id for 10 minutes, as WeChat documents): a sender killed with SIGKILL
mid-drain, and MariaDB killed and started again mid-drain. Every follower gets their push exactly once; the
repeats WeChat itself drops (the same client_msg_id within its window) are counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import OA, base_config
from wxbot import clock
from wxbot.models import Identity, Notification

pytestmark = pytest.mark.slow

TEMPLATE = "/cgi-bin/message/template/send"
PUSHES = int(os.environ.get("WXBOT_FAULTS_PUSHES", "3000"))
BATCH = 100
CONCURRENCY = 16
ROOT = Path(__file__).resolve().parents[2]
# A jobs process: drains again and again, as the scheduler runs the job every 2 s (a failed drain included),
# until nothing is left to send.
SENDER = """
import json, os, sys, time
import sqlalchemy as sa
from jobs.sender import send_due
from wxbot.config import settings_from_dict
from wxbot.models import Notification
from wxbot.services import build_services
services = build_services(settings_from_dict(json.loads(os.environ["WXBOT_FAULTS_CONFIG"]), env={}))
services.wechat
print("ready", flush=True)
while True:
    try:
        send_due(services)
        with services.session_factory() as session:
            left = session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                  .where(Notification.status.in_(("pending", "sending"))))
        if left == 0:
            break
    except Exception as exc:
        print(f"drain failed: {type(exc).__name__}", file=sys.stderr, flush=True)
    time.sleep(0.5)
"""


@dataclass
class Outcome:
    calls: int  # template sends WeChat received
    repeats: int  # of those, repeats of a client_msg_id within its window (WeChat drops them)
    per_follower: Counter[int]  # messages in a follower's chat -> how many followers
    statuses: Counter[str]

    def line(self) -> str:
        return (f"{PUSHES} pushes: {self.calls} sends received, {self.repeats} of them repeats WeChat dropped "
                f"(same client_msg_id within 10 minutes); followers with 0 / 1 / 2+ messages: "
                f"{self.per_follower.get(0, 0)} / {self.per_follower.get(1, 0)} / "
                f"{sum(n for k, n in self.per_follower.items() if k > 1)}; rows {dict(self.statuses)}")  # fmt: skip


@pytest.fixture
def faults_config(private_mariadb, private_redis, sandbox, tmp_path) -> dict[str, Any]:
    private_mariadb.empty_tables()
    raw = base_config(tmp_path)
    raw["app"]["log_level"] = "WARNING"
    raw["database"]["url"] = private_mariadb.url
    raw["redis"]["url"] = private_redis.url
    raw["wechat"]["api_base_url"] = sandbox.base_url
    raw["wechat"]["timeout_seconds"] = 1.5
    raw["notify"] = {
        "templates": {"status_viewed": {"oa": {"template_id": "oa-tid", "fields": {"thing1": "{job_title}"}}}},
        "quiet_hours_start": "", "quiet_hours_end": "", "daily_cap": 0,
        "batch_size": BATCH, "concurrency": CONCURRENCY, "lease_seconds": 4,
    }  # fmt: skip
    engine = sa.create_engine(private_mariadb.url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Identity), [
            {"app_name": "oa", "appid": OA["appid"], "kind": "official", "openid": f"o-{i}", "subscribed": True}
            for i in range(PUSHES)
        ])  # fmt: skip
        ids = [row[0] for row in conn.execute(sa.select(Identity.id).order_by(Identity.id))]
        content = {"template": {"key": "status_viewed", "data": {"job_title": "面试邀请"}}}
        conn.execute(sa.insert(Notification), [
            {"purpose": "faults", "identity_id": i, "lane": f"i{i}", "content": content, "channels": "template",
             "status": "pending", "next_attempt_at": clock.now(), "attempts": 0, "ended_channels": "",
             "urgent": True, "dedupe_key": f"faults-{i}"}
            for i in ids
        ])  # fmt: skip
    engine.dispose()
    for i in range(PUSHES):
        sandbox.set_follower(OA["appid"], f"o-{i}")
    sandbox.inject(TEMPLATE, latency=0.01, times=None)
    return raw


def _start_sender(config: dict[str, Any]) -> subprocess.Popen[str]:
    env = {"WXBOT_FAULTS_CONFIG": json.dumps(config), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SENDER], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "ready\n", process.communicate()[1]
    return process


def _wait_for_sends(sandbox, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(sandbox.calls(TEMPLATE)) < count:
        assert time.monotonic() < deadline, "the sender did not get going"
        time.sleep(0.02)


def _finish(process: subprocess.Popen[str]) -> str:
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return err


def _outcome(sandbox, private_mariadb) -> Outcome:
    calls = [c for c in sandbox.calls(TEMPLATE) if c.errcode == 0]
    keys = Counter((c.body["touser"], c.body["client_msg_id"]) for c in calls)
    per_follower = Counter(len(sandbox.inbox(OA["appid"], f"o-{i}")) for i in range(PUSHES))
    engine = sa.create_engine(private_mariadb.url)
    with engine.connect() as conn:
        statuses = Counter(dict(conn.execute(
            sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all()))  # fmt: skip
    engine.dispose()
    first = min(c.at for c in calls)
    assert max(c.at for c in calls) - first < timedelta(minutes=10)  # every repeat inside the window
    return Outcome(len(calls), sum(n - 1 for n in keys.values()), per_follower, statuses)


def _assert_each_follower_once(outcome: Outcome) -> None:
    assert outcome.per_follower == Counter({1: PUSHES}), outcome.line()
    assert outcome.statuses == Counter({"sent": PUSHES}), outcome.line()
    assert outcome.calls == PUSHES + outcome.repeats
    # only what the dead sender (or the one that lost its database) had claimed can be repeated
    assert outcome.repeats <= 2 * BATCH, outcome.line()


def test_a_sender_killed_mid_drain_loses_nothing_and_doubles_only_what_wechat_drops(
    faults_config, sandbox, private_mariadb
):
    started = time.monotonic()
    first = _start_sender(faults_config)
    _wait_for_sends(sandbox, PUSHES // 3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_after = len(sandbox.calls(TEMPLATE))
    _finish(_start_sender(faults_config))
    outcome = _outcome(sandbox, private_mariadb)
    print(f"\nsender SIGKILLed after {killed_after} sends, a second one finished the drain in "
          f"{time.monotonic() - started:.1f} s: {outcome.line()}")  # fmt: skip
    _assert_each_follower_once(outcome)


def test_mariadb_killed_and_restarted_mid_drain_loses_nothing_and_doubles_only_what_wechat_drops(
    faults_config, sandbox, private_mariadb
):
    started = time.monotonic()
    sender = _start_sender(faults_config)
    _wait_for_sends(sandbox, PUSHES // 3)
    private_mariadb.kill()
    down_after = len(sandbox.calls(TEMPLATE))
    time.sleep(2)
    sent_while_down = len(sandbox.calls(TEMPLATE)) - down_after
    private_mariadb.start()
    err = _finish(sender)
    outcome = _outcome(sandbox, private_mariadb)
    print(f"\nMariaDB SIGKILLed after {down_after} sends and started again 2 s later (sends while it was "
          f"down: {sent_while_down}); drain done in {time.monotonic() - started:.1f} s; "
          f"{err.count('drain failed')} drains failed: {outcome.line()}")  # fmt: skip
    _assert_each_follower_once(outcome)
    # those claimed before it went (no claim without a database), and no new send once a write had failed
    assert sent_while_down <= 2 * BATCH
