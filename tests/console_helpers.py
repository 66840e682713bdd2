"""Arranging console tests: agents, followers with conversations, and logging in through the login form."""

from __future__ import annotations

import re
from typing import Any

from wxbot.conversations import agents, conversations
from wxbot.models import Account, Identity

PASSWORD = "correct horse battery"


def make_agent(db: Any, username: str = "alice", role: str = "agent") -> Any:
    agent = agents.create_agent(db, username=username, password=PASSWORD, role=role)
    db.commit()
    return agent


def make_conversation(db: Any, openid: str = "o-follower-1", text: str = "你好，我想问面试时间", *,
                      phone_enc: str | None = None, msg_id: str = "5001") -> Any:  # fmt: skip
    """A follower (optionally with a linked account) who said 「留言」 and wrote one message."""
    identity = Identity(
        app_name="oa", appid="wxoa000000000001", kind="official", openid=openid, subscribed=True
    )
    if phone_enc is not None:
        identity.account = Account(platform_account_id=f"p-{openid}", phone_enc=phone_enc)
    db.add(identity)
    db.commit()
    conversation, _ = conversations.open_for_follower(db, identity.id)
    db.commit()
    conversations.add_inbound(
        db, conversation, appid=identity.appid, msg_id=msg_id, kind="text", content=text
    )
    db.commit()
    return conversation


def form_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def login(client: Any, username: str = "alice", password: str = PASSWORD) -> Any:
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": form_csrf(page.get_data(as_text=True)),
        },
    )
