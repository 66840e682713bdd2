"""WeChat answers 45009 (the daily quota is spent) to every template/send, on the suite's own MariaDB and
Redis: the agents' customer-service replies still go out, the status pushes wait for local midnight with a
reason a person can read, and the console shows the pause to an admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jobs.sender import send_due
from tests.conftest import base_config
from tests.console_helpers import login, make_agent
from tests.test_sender import FIELDS, MP_TID, NOON, OA_TID, TEMPLATE, Person, status_event
from tests.test_tickets_flow import agent_reply, write
from tests.wechat_helpers import Follower
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.models import Conversation, Identity, Notification
from wxbot.push import explain

pytestmark = pytest.mark.slow

CUSTOM = "/cgi-bin/message/custom/send"
FOLLOWERS = 5
MIDNIGHT = datetime(2026, 11, 30, 16, 0)  # 00:00 on 12-01 in Shanghai


@pytest.fixture
def limited_app(private_mariadb, private_redis, sandbox, tmp_path: Path) -> Iterator[Any]:
    private_mariadb.empty_tables()
    raw = base_config(tmp_path)
    raw["database"]["url"] = private_mariadb.url
    raw["redis"]["url"] = private_redis.url
    raw["wechat"]["api_base_url"] = sandbox.base_url
    raw["notify"] = {"templates": {"status_interview": {
        "oa": {"template_id": OA_TID, "fields": FIELDS}, "mp": {"template_id": MP_TID, "fields": FIELDS}}}}  # fmt: skip
    app = create_app(settings_from_dict(raw, env={}))
    yield app
    app.extensions["wxbot"].engine.dispose()


def test_a_spent_template_quota_holds_status_pushes_and_no_customer_service_reply(
    limited_app, sandbox, clock
):
    clock.set(NOON)
    services = limited_app.extensions["wxbot"]
    client = limited_app.test_client()
    db = services.session_factory()
    people = [Person(db, sandbox, n=n) for n in range(1, FOLLOWERS + 1)]
    sandbox.inject(TEMPLATE, errcode=45009, times=None)
    for person in people:
        status_event(client, "interview", n=person.n, event=f"e{person.n}", application=f"a{person.n}")
    send_due(services)  # every status push meets the spent quota

    for person in people:  # each writes to customer service
        follower = Follower(client, openid=person.oa.openid)
        follower.send_text("留言")
        write(follower, sandbox, f"面试几点开始？（{person.n}）")
    make_agent(db, "root", role="admin")
    login(client, "root")
    conversations = list(db.scalars(select(Conversation).order_by(Conversation.id)))
    db.commit()
    for conversation in conversations:
        assert agent_reply(client, conversation.id, "下午两点，请带好简历").status_code == 302
    send_due(services)

    replies = [c for c in sandbox.calls(CUSTOM) if c.errcode == 0]
    assert len(replies) == FOLLOWERS
    openids = {i.openid for i in db.scalars(select(Identity).where(Identity.kind == "official"))}
    assert {c.body["touser"] for c in replies} == openids
    db.expire_all()
    statuses = list(db.scalars(select(Notification).where(Notification.purpose == "application_status")))
    assert len(statuses) == FOLLOWERS
    assert {(n.status, n.reason, n.next_attempt_at) for n in statuses} == {("pending", "paused", MIDNIGHT)}
    assert {explain.explain(n) for n in statuses} == {
        "微信发送额度已用完（该接口暂停）（错误码 45009），将于 2026-12-01 00:00 再试"
    }
    db.commit()
    calls_before = len(sandbox.calls(TEMPLATE))
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == calls_before  # nothing asks WeChat again before midnight
    page = client.get("/console/limits").get_data(as_text=True)
    assert TEMPLATE in page and "45009" in page and CUSTOM not in page
    db.close()
    print(f"\n45009 on template/send: {FOLLOWERS} status pushes wait for 00:00 ({calls_before} template calls), "
          f"{len(replies)} customer-service replies sent")  # fmt: skip
