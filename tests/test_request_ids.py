"""Request ids in every log line of a request and in its answer; WeChat's rid in the logs and the outbox's
recorded reason; the access token in neither."""

from __future__ import annotations

import json
import logging
import re

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from jobs import Job, _guarded
from jobs.sender import send_due
from tests.test_sender import NOON, Person, status_event
from tests.test_sender import config_dict as sender_config  # noqa: F401  (the status templates)
from tests.wechat_helpers import Follower
from wxbot.logs import JsonFormatter
from wxbot.models import Notification
from wxbot.wechat.errors import WeChatError

TEMPLATE = "/cgi-bin/message/template/send"
config_dict = sender_config


def _records_of(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "request_id", None) == request_id]


def test_the_callers_request_id_is_on_every_log_line_and_in_the_answer(client, caplog):
    follower = Follower(client)
    params, body = follower.signed("<xml/>", timestamp=1)  # refused: an old timestamp, logged
    with caplog.at_level(logging.INFO):
        answer = client.post(
            "/wechat/oa", query_string=params, data=body, headers={"X-Request-Id": "req-12345678"}
        )
    assert answer.status_code == 403 and answer.headers["X-Request-Id"] == "req-12345678"
    (refusal,) = [r for r in caplog.records if "wechat callback refused" in r.getMessage()]
    assert refusal.request_id == "req-12345678"


def test_without_one_each_request_gets_its_own(client, caplog):
    with caplog.at_level(logging.INFO):
        first = client.post("/wechat/nope").headers["X-Request-Id"]
        second = client.post("/wechat/nope", headers={"X-Request-Id": "bad id with spaces"}).headers[
            "X-Request-Id"
        ]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second) and first != second
    assert len(_records_of(caplog, first)) == 1 and len(_records_of(caplog, second)) == 1
    assert {r.request_id for r in caplog.records if r.name == "wxbot.callback.views"} == {first, second}


def test_log_lines_outside_a_request_say_so_and_both_formats_print_the_id(client, caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("wxbot.test").info("outside")
        client.get("/healthz", headers={"X-Request-Id": "req-abcdefgh"})
    (outside,) = [r for r in caplog.records if r.getMessage() == "outside"]
    assert outside.request_id == "-"
    record = logging.makeLogRecord({"msg": "x"})
    record.request_id = "req-abcdefgh"
    assert json.loads(JsonFormatter().format(record))["request_id"] == "req-abcdefgh"


def test_each_job_run_has_its_own_id_on_its_log_lines(services, caplog):
    def noisy(_services):
        logging.getLogger("jobs.test").warning("working")

    with caplog.at_level(logging.INFO):
        _guarded(services, Job("noisy", noisy, seconds=60))()
        _guarded(services, Job("noisy", noisy, seconds=60))()
        _guarded(services, Job("unionid", noisy, seconds=60))()  # a job's name is no identifier to mask
    ids = [r.request_id for r in caplog.records if r.getMessage() == "working"]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(re.fullmatch(r"job-(noisy|unionid)-[0-9a-f]{12}", i) for i in ids), ids
    assert ids[2].startswith("job-unionid-")


def test_wechats_rid_reaches_the_log_and_the_recorded_reason_and_the_token_neither(
    client, services, db, sandbox, clock, caplog
):
    clock.set(NOON)
    Person(db, sandbox)
    status_event(client, "to_communicate")
    sandbox.inject(TEMPLATE, errcode=-1, times=1)
    with caplog.at_level(logging.DEBUG):
        send_due(services)
    (call,) = sandbox.calls(TEMPLATE)
    token = call.params["access_token"]
    push = db.scalars(select(Notification)).one()
    rid = re.fullmatch(r"[0-9a-f-]+", push.detail.rpartition("(rid ")[2].rstrip(")"))
    assert push.reason == "retrying" and rid is not None and push.detail.startswith("template: -1 ")
    (line,) = [r.getMessage() for r in caplog.records if f"push {push.id}:" in r.getMessage()]
    assert f"(rid {rid.group(0)})" in line
    assert token not in caplog.text and token not in (push.detail or "")


@given(
    st.text(max_size=400),
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}", fullmatch=True),
    st.integers(40, 300),
)
def test_the_rid_is_kept_whole_whatever_the_message_and_limit(message, rid, limit):
    error = WeChatError(45009, f"{message} rid: {rid}")
    assert error.rid == rid
    summary = error.summary(limit)
    assert len(summary) <= limit and summary.endswith(f"(rid {rid})")
