"""Two sender processes on MariaDB working one queue: every push is sent exactly once, and one recipient's
messages in the order they were queued."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import insert, select

from tests.conftest import OA
from wxbot.conversations import reply_window
from wxbot.models import Identity, Notification
from wxbot.push.enqueue import PushContent, TemplateContent, enqueue

TEMPLATE = "/cgi-bin/message/template/send"
CUSTOM = "/cgi-bin/message/custom/send"
PUSHES = 400
SENDER = """
import json, os, sys
from jobs.sender import send_due
from wxbot.config import settings_from_dict
from wxbot.services import build_services
services = build_services(settings_from_dict(json.loads(os.environ["WXBOT_TEST_CONFIG"]), env={}))
print("ready", flush=True)
sys.stdin.readline()
totals = send_due(services)
print(json.dumps({"claimed": totals.claimed, "sent": totals.sent, "lost": totals.lost}))
"""


@pytest.fixture
def config_dict(config_dict):
    fields = {"thing1": "{job_title}"}
    config_dict["notify"] = {
        "templates": {"status_viewed": {"oa": {"template_id": "oa-tid", "fields": fields}}},
        "quiet_hours_start": "",  # the processes run on the real clock
        "quiet_hours_end": "",
        "daily_cap": 0,
        "batch_size": 20,
        "concurrency": 8,
    }
    return config_dict


def _run_two_senders(config_dict):
    env = {"WXBOT_TEST_CONFIG": json.dumps(config_dict), "PATH": "/usr/bin:/bin"}
    senders = [
        subprocess.Popen([sys.executable, "-c", SENDER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for sender in senders:
        assert sender.stdout.readline() == "ready\n", sender.communicate(timeout=60)[1][-2000:]
    for sender in senders:
        sender.stdin.write("go\n")
        sender.stdin.flush()
    outputs = [s.communicate(timeout=240) for s in senders]
    assert all(s.returncode == 0 for s in senders), [err[-2000:] for _, err in outputs]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


@pytest.mark.slow
def test_five_replies_to_one_follower_reach_wechat_in_order_with_two_sender_processes(
    backend, config_dict, services, db, sandbox
):
    if backend != "production":
        pytest.skip("several sender processes need MariaDB (SQLite has one claimer)")
    rows = [{"app_name": "oa", "appid": OA["appid"], "kind": "official", "openid": f"o-{i}", "subscribed": True}
            for i in range(101)]  # fmt: skip
    db.execute(insert(Identity), rows)
    follower, *others = db.scalars(select(Identity).order_by(Identity.id))
    sandbox.set_follower(OA["appid"], follower.openid)
    sandbox.touch(OA["appid"], follower.openid, "message")
    reply_window.record_trigger(db, follower.id, "message")
    for i in range(1, 6):  # an agent's five replies, queued within a second
        enqueue(db, purpose="ticket_reply", identity_id=follower.id, content=PushContent(text=f"第{i}条回复"),
                channels=("custom",), urgent=True)  # fmt: skip
        db.commit()
    for identity in others:  # other recipients' pushes, so that both senders have work
        sandbox.set_follower(OA["appid"], identity.openid)
        content = PushContent(template=TemplateContent("status_viewed", {"job_title": "工程师"}))
        enqueue(db, purpose="test", identity_id=identity.id, content=content, channels=("template",))
    db.commit()
    sandbox.inject(CUSTOM, latency=0.3)  # the first reply is slow to be answered: the others wait for it
    sandbox.inject(TEMPLATE, latency=0.01, times=None)
    totals = _run_two_senders(config_dict)
    assert all(t["claimed"] > 0 for t in totals), totals
    texts = [d.body["text"]["content"] for d in sandbox.inbox(OA["appid"], follower.openid)]
    assert texts == [f"第{i}条回复" for i in range(1, 6)]
    db.expire_all()
    assert {n.status for n in db.scalars(select(Notification))} == {"sent"}
    db.commit()


@pytest.mark.slow
def test_two_sender_processes_send_every_push_exactly_once(backend, config_dict, services, db, sandbox):
    if backend != "production":
        pytest.skip("several sender processes need MariaDB (SQLite has one claimer)")
    rows = [{"app_name": "oa", "appid": OA["appid"], "kind": "official", "openid": f"o-{i}", "subscribed": True}
            for i in range(PUSHES)]  # fmt: skip
    db.execute(insert(Identity), rows)
    for identity in db.scalars(select(Identity)):
        sandbox.set_follower(OA["appid"], identity.openid)
        content = PushContent(template=TemplateContent("status_viewed", {"job_title": "工程师"}))
        enqueue(db, purpose="test", identity_id=identity.id, content=content, channels=("template",),
                dedupe_key=f"push-{identity.id}")  # fmt: skip
    db.commit()
    sandbox.inject(TEMPLATE, latency=0.01, times=None)  # so that the two overlap
    env = {"WXBOT_TEST_CONFIG": json.dumps(config_dict), "PATH": "/usr/bin:/bin"}
    senders = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    # Both start sending at the same moment, whichever took longer to start up: each gets a share.
    for sender in senders:
        assert sender.stdout.readline() == "ready\n", sender.communicate(timeout=60)[1][-2000:]
    for sender in senders:
        sender.stdin.write("go\n")
        sender.stdin.flush()
    outputs = [s.communicate(timeout=240) for s in senders]
    assert all(s.returncode == 0 for s in senders), [err[-2000:] for _, err in outputs]
    totals = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(t["claimed"] > 0 for t in totals), totals  # both took part
    assert sum(t["sent"] for t in totals) == PUSHES and all(t["lost"] == 0 for t in totals)
    received = Counter(c.body["touser"] for c in sandbox.calls(TEMPLATE) if c.errcode == 0)
    assert len(received) == PUSHES and set(received.values()) == {1}
    db.expire_all()
    assert {n.status for n in db.scalars(select(Notification))} == {"sent"}
    db.commit()
