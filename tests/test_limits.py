"""WeChat's limits pause one API of one app: a template quota (45009) holds template messages until local
midnight and nothing else, a minute limit (45011) holds that API for a minute; an operator sees and lifts a
pause from the CLI and the console, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from jobs.sender import send_due
from tests.console_helpers import form_csrf, login, make_agent
from tests.test_sender import CUSTOM, NOON, TEMPLATE, Person, config_dict, pushes, status_event  # noqa: F401
from wxbot.cli import main as cli
from wxbot.conversations import reply_window
from wxbot.models import ApiPause, AuditEntry
from wxbot.push import explain
from wxbot.push.enqueue import PushContent, enqueue

MIDNIGHT = datetime(2026, 11, 30, 16, 0)  # 00:00 on 12-01 in Shanghai


def at_noon(clock):
    clock.set(NOON)
    return clock


def open_window(db, sandbox, person):
    reply_window.record_trigger(db, person.oa.id, "message")
    db.commit()
    sandbox.touch("wxoa000000000001", person.oa.openid, "message")


def ticket_reply(db, person, text="您好，面试改到周五"):
    enqueue(db, purpose="ticket_reply", identity_id=person.oa.id, content=PushContent(text=text),
            channels=("custom",), urgent=True)  # fmt: skip
    db.commit()


def cli_env(settings, tmp_path):
    return {
        "WXBOT_APP_ENVIRONMENT": "development",
        "WXBOT_DATABASE_URL": settings.database.url,
        "WXBOT_APP_VAR_DIR": str(tmp_path / "cli-var"),
    }


def test_a_template_quota_holds_template_messages_only_and_customer_service_replies_still_go(
    client, services, db, sandbox, clock
):
    at_noon(clock)
    person = Person(db, sandbox)
    open_window(db, sandbox, person)
    sandbox.inject(TEMPLATE, errcode=45009, times=None)
    status_event(client, "interview")  # urgent: template, else subscribe (no authorisation here)
    send_due(services)
    ticket_reply(db, person)
    send_due(services)
    status, reply = pushes(db)
    assert (status.status, status.reason, status.next_attempt_at) == ("pending", "paused", MIDNIGHT)
    assert (
        explain.explain(status)
        == "微信发送额度已用完（该接口暂停）（错误码 45009），将于 2026-12-01 00:00 再试"
    )
    assert (reply.status, reply.channel) == ("sent", "custom")
    assert [c.body["text"]["content"] for c in sandbox.calls(CUSTOM)] == ["您好，面试改到周五"]
    assert [(p.api, p.until, p.errcode) for p in db.scalars(select(ApiPause))] == [
        (TEMPLATE, MIDNIGHT, 45009)
    ]
    db.commit()


def test_a_minute_limit_holds_that_api_for_a_minute(client, services, db, sandbox, clock):
    noon = at_noon(clock)
    Person(db, sandbox)
    Person(db, sandbox, n=2)
    sandbox.inject(TEMPLATE, errcode=45011, times=1)
    status_event(client, "interview", n=1, event="e1", application="a1")
    send_due(services)
    status_event(client, "interview", n=2, event="e2", application="a2")
    send_due(services)
    assert len(sandbox.calls(TEMPLATE)) == 1  # the second waits for the pause, WeChat is not asked
    first, second = pushes(db)
    assert (second.status, second.reason, second.next_attempt_at) == (
        "pending",
        "paused",
        NOON + timedelta(minutes=1),
    )
    assert first.reason == "retrying" and first.next_attempt_at >= NOON + timedelta(minutes=1)
    noon.advance(minutes=2)
    send_due(services)
    assert [p.status for p in pushes(db)] == ["sent", "sent"]


def test_an_operator_lists_and_lifts_a_pause_from_the_cli_and_the_messages_go_at_once(
    client, services, db, sandbox, clock, settings, tmp_path
):
    noon = at_noon(clock)
    Person(db, sandbox)
    Person(db, sandbox, n=2)
    # one batch meets the daily quota and the minute limit at once: the minute does not shorten the day
    sandbox.inject(TEMPLATE, errcode=45009, times=1)
    sandbox.inject(TEMPLATE, errcode=45011, times=1)
    status_event(client, "interview", n=1, event="e1", application="a1")
    status_event(client, "interview", n=2, event="e2", application="a2")
    send_due(services)
    runner, env = CliRunner(), cli_env(settings, tmp_path)
    listed = runner.invoke(cli, ["pauses", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.output == f"oa\t{TEMPLATE}\tuntil 2026-12-01 00:00\terrcode 45009\n"
    assert runner.invoke(cli, ["pauses", "lift", "oa", "custom"], env=env).exit_code == 1  # no such pause
    bad = runner.invoke(cli, ["pauses", "lift", "oa", "/cgi-bin/nope"], env=env)
    assert bad.exit_code == 1 and "没有这个接口" in bad.output
    lifted = runner.invoke(cli, ["pauses", "lift", "oa", "template"], env=env)
    assert lifted.exit_code == 0 and f"lifted: oa {TEMPLATE}" in lifted.output
    assert runner.invoke(cli, ["pauses", "list"], env=env).output == "no pauses\n"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "pause.lift"))
    assert (entry.actor, entry.subject_id) == ("cli", f"oa:{TEMPLATE}")
    db.commit()
    send_due(services)  # the row that waited for the pause goes now; the one that met 45011 in a minute
    assert sorted(p.status for p in pushes(db)) == ["pending", "sent"]
    noon.advance(minutes=2)
    send_due(services)
    assert {p.status for p in pushes(db)} == {"sent"}


def test_an_admin_sees_and_lifts_a_pause_in_the_console(client, services, db, sandbox, clock):
    at_noon(clock)
    Person(db, sandbox)
    sandbox.inject(TEMPLATE, errcode=45009, times=1)
    status_event(client, "interview")
    send_due(services)
    make_agent(db, "bob")
    login(client, "bob")
    assert client.get("/console/limits").status_code == 403
    client.post(
        "/console/logout", data={"csrf_token": form_csrf(client.get("/console/").get_data(as_text=True))}
    )
    admin = make_agent(db, "root", role="admin")
    login(client, "root")
    page = client.get("/console/limits").get_data(as_text=True)
    assert TEMPLATE in page and "45009" in page and "2026-12-01 00:00" in page
    lifted = client.post(
        "/console/limits/lift", data={"app": "oa", "api": TEMPLATE, "csrf_token": form_csrf(page)}
    )
    assert lifted.status_code == 302
    page = client.get(lifted.headers["Location"]).get_data(as_text=True)
    assert "已解除暂停" in page and "没有暂停的接口" in page
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "pause.lift"))
    assert entry.actor == f"admin:{admin.id}"
    db.commit()  # end the read: on SQLite an open transaction holds the write lock
    again = client.post(
        "/console/limits/lift", data={"app": "oa", "api": TEMPLATE, "csrf_token": form_csrf(page)}
    )
    assert "没有暂停" in client.get(again.headers["Location"]).get_data(as_text=True)
    send_due(services)
    assert pushes(db)[0].status == "sent"
