"""Admin pages for agents (add, deactivate, let in again, reset a password) and the audit log, audited the
same way as the CLI."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.console_helpers import PASSWORD, form_csrf, login, make_agent, make_conversation
from wxbot.conversations import conversations
from wxbot.models import Conversation
from wxbot.models.conversations import Agent
from wxbot.models.ledger import AuditEntry


def audited(db, action: str) -> tuple[str, str, str]:
    """(actor, subject id, detail) of the latest entry; the read is ended at once (SQLite's write lock)."""
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc()))
    found = (entry.actor, entry.subject_id, entry.detail)
    db.commit()
    return found


def post(client, path: str, **data):
    response = client.get("/console/agents")
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    page = response.get_data(as_text=True)
    return client.post(path, data={"csrf_token": form_csrf(page), **data})


def test_an_admin_adds_an_agent_who_can_log_in_and_it_is_audited_like_the_cli(client, db, app):
    root = make_agent(db, "root", role="admin")
    login(client, "root")
    added = post(client, "/console/agents", username="Carol", role="agent", password="carol's long secret")
    assert added.status_code == 302
    assert "已添加客服 carol" in client.get(added.headers["Location"]).get_data(as_text=True)
    actor, _, detail = audited(db, "agent.create")
    assert actor == f"admin:{root.id}" and detail == "role agent"  # the audit log names agents by id
    carol = FlaskClient(app)
    assert login(carol, "carol", "carol's long secret").status_code == 302
    short = post(client, "/console/agents", username="dave", role="agent", password="short")
    assert "密码：10 到 256 个字符" in client.get(short.headers["Location"]).get_data(as_text=True)
    taken = post(client, "/console/agents", username="carol", role="agent", password="another long secret")
    assert "该用户名已被使用" in client.get(taken.headers["Location"]).get_data(as_text=True)


def test_deactivating_ends_the_agents_sessions_and_releases_their_conversations(client, db, app):
    make_agent(db, "root", role="admin")
    bob = make_agent(db, "bob")
    conv = make_conversation(db)
    conversations.claim(db, conv, bob)
    db.commit()
    bobs = FlaskClient(app)
    login(bobs, "bob")
    assert bobs.get("/console/").status_code == 200
    login(client, "root")
    done = post(client, "/console/agents/bob/active", active="0")
    assert "bob 已停用" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert bobs.get("/console/").status_code == 302  # his session is over
    assert login(bobs, "bob").status_code == 401
    db.expire_all()
    assert db.get(Conversation, conv.id).assignee_id is None
    db.commit()
    assert audited(db, "agent.deactivate")[:2] == (
        f"admin:{db.scalar(select(Agent.id).where(Agent.username == 'root'))}",
        str(bob.id),
    )
    db.commit()
    post(client, "/console/agents/bob/active", active="1")
    assert login(bobs, "bob").status_code == 302
    assert post(client, "/console/agents/root/active", active="0").status_code == 400  # not oneself


def test_a_reset_password_ends_the_sessions_and_only_the_new_one_works(client, db, app):
    make_agent(db, "root", role="admin")
    bob = make_agent(db, "bob")
    bobs = FlaskClient(app)
    login(bobs, "bob")
    login(client, "root")
    assert post(client, "/console/agents/bob/password", password="bob's new long secret").status_code == 302
    assert bobs.get("/console/").status_code == 302
    assert login(bobs, "bob", PASSWORD).status_code == 401
    assert login(bobs, "bob", "bob's new long secret").status_code == 302
    assert audited(db, "agent.password_reset")[1] == str(bob.id)


def test_only_admins_see_the_agents_and_the_audit_log_which_pages_and_filters(client, db, app):
    root_id = make_agent(db, "root", role="admin").id
    make_agent(db, "alice")
    for n in range(60):
        make_conversation(db, f"o-audit-{n}", msg_id=str(6000 + n))
    login(client, "alice")
    assert client.get("/console/agents").status_code == 403
    assert client.get("/console/audit").status_code == 403
    client = FlaskClient(app)
    login(client, "root")
    ids = list(db.scalars(select(Conversation.id)))
    db.commit()  # end the read: on SQLite an open read holds the write lock
    for conversation_id in ids:
        client.get(f"/console/c/{conversation_id}")  # 60 views, audited
    page = client.get("/console/audit").get_data(as_text=True)
    assert page.count("conversation.view") == 50 and 'rel="next"' in page
    older = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    rest = client.get(older).get_data(as_text=True)
    assert rest.count("conversation.view") >= 10
    agents_only = client.get("/console/audit?action=agent.").get_data(as_text=True)
    assert "agent.create" in agents_only and "conversation.view" not in agents_only
    assert f"admin:{root_id}" in page
