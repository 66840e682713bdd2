"""The inbox for thousands: counts per tab, paging, search (text, openid, platform account id, phone through
its keyed hash), who each row is, and the order an agent must act in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.console_helpers import login, make_agent
from wxbot import clock as wxclock
from wxbot.conversations import reply_window
from wxbot.models import Account, Conversation, Identity, TicketMessage

ROW = re.compile(r'<tr id="conv-(\d+)"')


def ids_on(page: str) -> list[int]:
    return [int(x) for x in ROW.findall(page)]


def add_conversations(db, services, n: int, *, start: int = 0, waited_minutes=lambda i: i) -> list[int]:
    """n followers with one open conversation and one message each; follower i has waited i minutes."""
    now = wxclock.now()
    conversations = []
    for i in range(start, start + n):
        identity = Identity(app_name="oa", appid="wxoa000000000001", kind="official", openid=f"o-bulk-{i}",
                            subscribed=True)  # fmt: skip
        if i % 10 == 0:
            phone = f"1380000{i:04d}"
            identity.account = Account(platform_account_id=f"p-{i}", phone_enc=services.pii.encrypt(phone),
                                       phone_hash=services.pii.lookup_hash(phone))  # fmt: skip
        at = now - timedelta(minutes=waited_minutes(i))
        conv = Conversation(identity=identity, state="open", awaiting_since=at, first_user_message_at=at,
                            created_at=at)  # fmt: skip
        conv.messages.append(
            TicketMessage(direction="inbound", kind="text", body=f"问题编号 Q{i:04d}", created_at=at)
        )
        conversations.append(conv)
    db.add_all(conversations)
    db.commit()
    for conv in conversations:
        conv.open_identity_id = conv.identity_id
    db.commit()
    return [c.id for c in conversations]


@pytest.fixture
def config_dict(config_dict):
    config_dict["console"] = {"first_response_target_hours": 100}  # nobody overdue unless a test says so
    return config_dict


def test_a_thousand_conversations_page_with_counts_and_search_correctly(client, db, services, clock):
    make_agent(db)
    ids = add_conversations(db, services, 1000)
    login(client)
    first = client.get("/console/").get_data(as_text=True)
    assert re.search(r'待处理 <span class="count">1000</span>', first)
    assert "共 1000 个会话" in first and "第 1 / 20 页" in first
    seen = []
    for number in range(1, 21):
        page = client.get(f"/console/?page={number}").get_data(as_text=True)
        seen += ids_on(page)
    assert len(seen) == 1000 and set(seen) == set(ids)  # every conversation once, none lost at a page edge
    # waited longest first: follower 999 waited 999 minutes
    assert seen[:3] == [ids[999], ids[998], ids[997]]
    assert 'rel="next"' not in client.get("/console/?page=20").get_data(as_text=True)
    assert ids_on(client.get("/console/?page=99").get_data(as_text=True)) == seen[-50:]  # clamped

    found = client.get("/console/?q=Q0421").get_data(as_text=True)
    assert ids_on(found) == [ids[421]] and "共 1 个会话" in found
    assert ids_on(client.get("/console/?q=o-bulk-77").get_data(as_text=True)) == [ids[77]]
    assert ids_on(client.get("/console/?q=p-420").get_data(as_text=True)) == [ids[420]]
    by_phone = client.get("/console/?q=%2B86 138-0000-0430").get_data(as_text=True)
    assert ids_on(by_phone) == [ids[430]]
    assert "138****0430" in by_phone and "13800000430" not in by_phone  # the row names the person, masked
    assert "平台账号 p-430" in by_phone
    assert (
        ids_on(client.get("/console/?q=Q%25").get_data(as_text=True)) == []
    )  # % is a character, not a wildcard
    assert client.get("/console/?q=" + "x" * 5000).status_code == 200  # cut to 64 characters


def test_a_phone_search_never_puts_the_clear_number_in_a_query(client, db, services, clock):
    make_agent(db)
    ids = add_conversations(db, services, 20)
    login(client)
    statements = []
    from sqlalchemy import event

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(f"{statement} {parameters}")

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        found = client.get("/console/?q=13800000010").get_data(as_text=True)
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    assert ids_on(found) == [ids[10]]
    assert statements and not [s for s in statements if "13800000010" in s or "0000010" in s]


def test_the_order_is_overdue_then_closing_windows_then_longest_waiting_and_menu_clicks_last(
    client, db, services, clock, settings
):
    make_agent(db)
    target = timedelta(hours=settings.console.first_response_target_hours)
    waited = {0: 10, 1: 20, 2: 30, 3: 40, 4: 50}
    ids = add_conversations(db, services, 5, waited_minutes=lambda i: waited[i])
    convs = {i: db.get(Conversation, ids[i]) for i in range(5)}
    convs[0].awaiting_since = wxclock.now() - target - timedelta(minutes=1)  # overdue
    reply_window.record_trigger(db, convs[2].identity_id, "message")  # window closing in 48 h
    reply_window.record_trigger(db, convs[3].identity_id, "action")  # window closing in 1 min
    db.commit()
    menu_only = Conversation(identity=Identity(app_name="oa", appid="wxoa000000000001", kind="official",
                                               openid="o-menu", subscribed=True), state="open")  # fmt: skip
    db.add(menu_only)
    db.commit()
    menu_only.open_identity_id = menu_only.identity_id
    db.commit()
    login(client)
    order = ids_on(client.get("/console/").get_data(as_text=True))
    assert order == [ids[0], ids[3], ids[2], ids[4], ids[1], menu_only.id]
