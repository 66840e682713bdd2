"""The agent console over HTTP: sessions, CSRF, rate limits, roles, the audit trail, the agents CLI."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.console_helpers import PASSWORD, form_csrf, login, make_agent, make_conversation
from wxbot.cli import main as cli
from wxbot.conversations import agents, conversations
from wxbot.models import Agent, AuditEntry, Conversation, TicketMessage
from wxbot.models.conversations import CannedReply


def test_every_page_but_login_needs_a_session(client, db):
    conv = make_conversation(db)
    for path in ("/console/", f"/console/c/{conv.id}", "/console/stats", "/console/canned"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/console/login?next=")
    assert client.post(f"/console/c/{conv.id}/resolve", data={}).status_code == 401
    assert db.get(Conversation, conv.id).state == "open"


def test_login_sets_a_console_only_cookie_and_logout_ends_the_session(client, db):
    make_agent(db)
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("wxbot_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert client.get("/console/").status_code == 200
    # the cookie is scoped to /console: the other APIs never receive it
    assert client.get_cookie("wxbot_console", path="/console") is not None
    assert client.get_cookie("wxbot_console", path="/") is None

    inbox = client.get("/console/").get_data(as_text=True)
    assert client.post("/console/logout", data={"csrf_token": form_csrf(inbox)}).status_code == 302
    assert client.get("/console/").status_code == 302


def test_wrong_passwords_are_refused_and_rate_limited_per_username(client, db, settings):
    make_agent(db)
    for _ in range(settings.console.login_attempts):
        assert login(client, password="wrong password!!").status_code == 401
    refused = login(client)  # even the right password, once the limit is reached
    assert refused.status_code == 429
    assert "此用户名登录失败次数过多，请 1 分钟后再试" in refused.get_data(as_text=True)
    assert login(client, username="nobody").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client, db):
    make_agent(db)
    conv = make_conversation(db)
    login(client)
    response = client.post(f"/console/c/{conv.id}/note", data={"body": "x", "form_token": "t"})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    login_without_token = client.post("/console/login", data={"username": "alice", "password": PASSWORD})
    assert login_without_token.status_code == 400
    assert db.scalar(select(TicketMessage).where(TicketMessage.direction == "note")) is None


def test_a_redirect_after_login_stays_inside_the_console(client, db):
    make_agent(db)
    page = client.get("/console/login?next=https://evil.example/")
    response = client.post(
        "/console/login",
        data={"username": "alice", "password": PASSWORD, "next": "https://evil.example/",
              "csrf_token": form_csrf(page.get_data(as_text=True))},
    )  # fmt: skip
    assert response.headers["Location"] == "/console/"


def test_agent_actions_are_audited_without_personal_data(client, db, services):
    agent = make_agent(db)
    conv = make_conversation(db, text="我的电话是13812345678")
    login(client)
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    assert "我的电话是138****5678" in page  # agents read the thread, typed numbers masked
    csrf = form_csrf(page)
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    client.post(f"/console/c/{conv.id}/claim", data={"csrf_token": csrf})
    for _ in range(2):  # the same form submitted twice adds one note
        client.post(
            f"/console/c/{conv.id}/note", data={"csrf_token": csrf, "form_token": token, "body": "call back"}
        )
    client.post(f"/console/c/{conv.id}/resolve", data={"csrf_token": csrf})
    db.expire_all()
    stored = db.get(Conversation, conv.id)
    assert stored.state == "resolved" and stored.assignee_id == agent.id
    notes = db.scalars(select(TicketMessage).where(TicketMessage.direction == "note")).all()
    assert [n.body for n in notes] == ["call back"]
    rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [r.action for r in rows] == [
        "conversation.view", "conversation.claim", "conversation.note", "conversation.resolve",
    ]  # fmt: skip
    assert {r.actor for r in rows} == {f"agent:{agent.id}"}
    assert all("138" not in r.detail and "call back" not in r.detail for r in rows)


def test_the_phone_is_masked_and_only_an_admin_may_reveal_it(client, db, services):
    make_agent(db, "alice")
    make_agent(db, "root", role="admin")
    conv = make_conversation(db, phone_enc=services.pii.encrypt("13812345678"))
    login(client)
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page and "Reveal" not in page
    assert (
        client.post(f"/console/c/{conv.id}/reveal", data={"csrf_token": form_csrf(page)}).status_code == 403
    )

    client.delete_cookie("wxbot_console", path="/console")
    login(client, "root")
    page = client.get(f"/console/c/{conv.id}").get_data(as_text=True)
    revealed = client.post(f"/console/c/{conv.id}/reveal", data={"csrf_token": form_csrf(page)})
    assert revealed.status_code == 200 and "13812345678" in revealed.get_data(as_text=True)
    reveal = db.scalar(select(AuditEntry).where(AuditEntry.action == "phone.reveal"))
    assert reveal is not None and "138" not in reveal.detail


def test_inbox_filters_and_statistics(client, db, clock):
    alice = make_agent(db, "alice")
    mine = make_conversation(db, "o-1", text="问题甲")
    make_conversation(db, "o-2", text="问题乙", msg_id="5002")
    conversations.claim(db, mine, alice)
    db.commit()
    login(client)
    assert "问题甲" in client.get("/console/?scope=mine").get_data(as_text=True)
    assert "问题乙" not in client.get("/console/?scope=mine").get_data(as_text=True)
    unassigned = client.get("/console/?scope=unassigned").get_data(as_text=True)
    assert "问题乙" in unassigned and "问题甲" not in unassigned
    assert client.get("/console/?state=bogus").status_code == 400
    clock.advance(hours=5)
    login(client)  # five idle hours end a session
    assert client.get("/console/").get_data(as_text=True).count("badge overdue") == 2
    stats = client.get("/console/stats").get_data(as_text=True)
    assert re.search(r'id="open-count">2<', stats)


def test_canned_replies_are_admin_edited_and_inserted_with_variables(client, db):
    make_agent(db, "root", role="admin")
    conv = make_conversation(db)
    login(client, "root")
    page = client.get("/console/canned").get_data(as_text=True)
    client.post(
        "/console/canned", data={"csrf_token": form_csrf(page), "title": "hello", "body": "我是$agent"}
    )
    bad = client.post("/console/canned", data={"csrf_token": form_csrf(page), "title": "x", "body": "$phone"},
                      follow_redirects=True)  # fmt: skip
    assert "unknown variable $phone" in bad.get_data(as_text=True)
    canned_id = db.scalar(select(CannedReply.id))
    db.commit()  # end the read: on SQLite (BEGIN IMMEDIATE) an open read holds the write lock
    page = client.get(f"/console/c/{conv.id}?canned={canned_id}").get_data(as_text=True)
    assert "我是root" in page


def test_agents_create_reads_the_password_from_stdin_and_has_no_default(settings, tmp_path, db):
    env = {"WXBOT_APP_ENVIRONMENT": "development", "WXBOT_DATABASE_URL": settings.database.url,
           "WXBOT_APP_VAR_DIR": str(tmp_path / "cli-var")}  # fmt: skip
    runner = CliRunner()
    made = runner.invoke(cli, ["agents", "create", "bob", "--role", "admin", "--password-stdin"],
                         input="a long enough secret\n", env=env)  # fmt: skip
    assert made.exit_code == 0, made.output
    short = runner.invoke(cli, ["agents", "create", "eve", "--password-stdin"], input="\n", env=env)
    assert short.exit_code != 0 and "password" in short.output
    agent = db.scalar(select(Agent).where(Agent.username == "bob"))
    assert agent.role == "admin" and agents.authenticate(db, "bob", "a long enough secret") is not None
    assert db.scalar(select(Agent).where(Agent.username == "eve")) is None


def test_a_deactivated_agent_is_logged_out_kept_out_and_their_conversations_return_to_the_queue(
    settings, tmp_path, client, db
):
    alice = make_agent(db)
    assigned, resolved = make_conversation(db), make_conversation(db, openid="o-follower-2", msg_id="5002")
    for conversation in (assigned, resolved):
        conversations.claim(db, conversation, alice)
    conversations.resolve(db, resolved, alice)
    db.commit()
    assert login(client).status_code == 302 and client.get("/console/").status_code == 200
    env = {"WXBOT_APP_ENVIRONMENT": "development", "WXBOT_DATABASE_URL": settings.database.url,
           "WXBOT_APP_VAR_DIR": str(tmp_path / "cli-var")}  # fmt: skip
    runner = CliRunner()

    out = runner.invoke(cli, ["agents", "deactivate", "alice"], env=env)
    assert out.exit_code == 0 and "1 conversation(s) back in the queue" in out.output, out.output
    assert client.get("/console/").status_code == 302  # the open session ends at the next request
    assert login(client).status_code == 401
    db.expire_all()
    assert db.get(Conversation, assigned.id).assignee_id is None
    assert db.get(Conversation, resolved.id).assignee_id == alice.id  # history keeps who handled it
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "agent.deactivate"))
    assert (entry.actor, entry.subject_id) == ("cli", str(alice.id))
    db.commit()  # end the read: on SQLite (BEGIN IMMEDIATE) an open read holds the write lock

    assert runner.invoke(cli, ["agents", "activate", "alice"], env=env).exit_code == 0
    assert login(client).status_code == 302
    unknown = runner.invoke(cli, ["agents", "deactivate", "nobody"], env=env)
    assert unknown.exit_code != 0 and "no agent 'nobody'" in unknown.output


@pytest.mark.parametrize("proxy_hops", [0, 1])
def test_the_login_limit_per_address_believes_x_forwarded_for_only_behind_a_configured_proxy(
    config_dict, request, proxy_hops
):
    config_dict["app"]["proxy_hops"] = proxy_hops
    config_dict["console"] = {"login_failures_per_address": 8}
    client, settings = request.getfixturevalue("client"), request.getfixturevalue("settings")
    per_address = settings.console.login_failures_per_address

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    for i in range(per_address):  # a new username each time: only the address's count reaches its limit
        assert login(client, username=f"guess{i}", password="wrong password!!").status_code == 401
    assert login(client, username="guess-more", password="wrong password!!").status_code == 429

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    other_address = login(client, username="someone", password="wrong password!!").status_code
    # behind a proxy that is another client; without one the header is anybody's to write, and ignored
    assert other_address == (401 if proxy_hops else 429)
