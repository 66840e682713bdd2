"""留言 conversations: the rules of the domain, on both backends."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from wxbot.conversations import agents, conversations, replies
from wxbot.conversations import canned as canned_replies
from wxbot.conversations import statistics as service_level
from wxbot.errors import DomainError
from wxbot.models import Account, AuditEntry, Conversation, Identity, TicketMessage
from wxbot.privacy import registry as rights


def make_identity(db, openid="o-follower-1", account=None):
    identity = Identity(
        app_name="oa", appid="wxoa000000000001", kind="official", openid=openid, subscribed=True
    )
    if account is not None:
        identity.account = account
    db.add(identity)
    db.commit()
    return identity


def make_agent(db, username="alice", role="agent"):
    agent = agents.create_agent(db, username=username, password="correct horse battery", role=role)
    db.commit()
    return agent


def inbound(db, conv, msg_id, text="hello", kind="text", fields=None):
    added = conversations.add_inbound(db, conv, appid="wxoa000000000001", msg_id=msg_id, kind=kind, content=text,
                                fields=fields)  # fmt: skip
    db.commit()
    return added


def test_a_follower_has_one_unresolved_conversation_and_a_resolved_one_stays_closed(db, clock):
    identity = make_identity(db)
    agent = make_agent(db)
    first, created = conversations.open_for_follower(db, identity.id)
    db.commit()
    assert created
    again, created = conversations.open_for_follower(db, identity.id)
    assert (again.id, created) == (first.id, False)

    conversations.end_for_follower(db, identity.id)
    db.commit()
    assert conversations.capturing_conversation(db, identity.id) is None
    continued, created = conversations.open_for_follower(db, identity.id)
    db.commit()
    assert (continued.id, created) == (first.id, False)
    assert conversations.capturing_conversation(db, identity.id).id == first.id

    conversations.resolve(db, first, agent)
    db.commit()
    assert conversations.capturing_conversation(db, identity.id) is None
    second, created = conversations.open_for_follower(db, identity.id)
    db.commit()
    assert created and second.id != first.id

    with pytest.raises(DomainError, match="newer open conversation"):
        conversations.reopen(db, first, agent)
    db.rollback()
    assert db.get(Conversation, first.id).state == "resolved"


def test_a_retried_delivery_adds_nothing_and_only_the_first_message_is_acknowledged(db, clock):
    identity = make_identity(db)
    conv, _ = conversations.open_for_follower(db, identity.id)
    db.commit()
    first = inbound(db, conv, "1001")
    assert first is not None and first.first
    assert inbound(db, conv, "1001") is None
    second = inbound(db, conv, "1002", kind="image", text="", fields={"MediaId": "m-1", "PicUrl": "http://x"})
    assert second is not None and not second.first
    assert second.message.media_status == "pending" and second.message.media_id == "m-1"
    location = inbound(db, conv, "1003", kind="location", text="",
                       fields={"Location_X": "39.9", "Location_Y": "116.4", "Scale": "15", "Label": "望京"})  # fmt: skip
    assert conversations.details(location.message)["label"] == "望京"
    assert db.scalar(select(func.count()).select_from(TicketMessage)) == 3
    assert conv.first_user_message_at == clock.current and conv.state == "open"


@pytest.mark.parametrize("msg_ids", [("77", "77"), ("77", "78")], ids=["same delivery", "two messages"])
def test_deliveries_at_once_store_each_message_once(services, db, clock, msg_ids):
    identity = make_identity(db)
    conv, _ = conversations.open_for_follower(db, identity.id)
    db.commit()
    results: list[object] = []
    barrier = threading.Barrier(2, timeout=20)

    def deliver(msg_id):
        barrier.wait()
        with services.session_factory() as session:
            own = session.get(Conversation, conv.id)
            results.append(conversations.add_inbound(session, own, appid="wxoa000000000001", msg_id=msg_id, kind="text",
                                               content="once"))  # fmt: skip
            session.commit()

    threads = [threading.Thread(target=deliver, args=(m,)) for m in msg_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    distinct = len(set(msg_ids))
    assert sum(r is not None for r in results) == distinct
    assert sum(r.first for r in results if r is not None) == 1  # one acknowledgement
    assert db.scalar(select(func.count()).select_from(TicketMessage)) == distinct


def test_two_agents_claiming_at_once_one_wins(services, db, clock):
    identity = make_identity(db)
    conv, _ = conversations.open_for_follower(db, identity.id)
    alice, bob = make_agent(db, "alice"), make_agent(db, "bob")
    db.commit()
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2, timeout=20)

    def claim(agent_id):
        barrier.wait()
        with services.session_factory() as session:
            own, agent = session.get(Conversation, conv.id), session.get(type(alice), agent_id)
            try:
                conversations.claim(session, own, agent)
                session.commit()
                outcomes[agent.username] = "won"
            except DomainError:
                session.rollback()
                outcomes[agent.username] = "refused"

    threads = [threading.Thread(target=claim, args=(a.id,)) for a in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["refused", "won"]
    db.expire_all()
    winner = next(name for name, o in outcomes.items() if o == "won")
    assert db.get(Conversation, conv.id).assignee.username == winner


def test_agents_passwords_are_hashed_and_checked(db):
    agent = make_agent(db, "Carol", role="admin")
    assert agent.username == "carol" and agent.password_hash.startswith("scrypt:")
    assert agents.authenticate(db, "carol", "correct horse battery").id == agent.id
    assert agents.authenticate(db, "carol", "wrong password!") is None
    assert agents.authenticate(db, "nobody", "correct horse battery") is None
    with pytest.raises(DomainError, match="password"):
        agents.create_agent(db, username="dave", password="short")
    with pytest.raises(DomainError, match="taken"):
        agents.create_agent(db, username="carol", password="another long password")


def test_canned_replies_fill_known_variables_and_refuse_unknown_ones(db):
    canned = canned_replies.save(
        db, title="greeting", body="您好，我是$agent，会在 ${target_hours} 小时内回复。"
    )
    assert (
        canned_replies.render(canned.body, agent="alice", target_hours="4")
        == "您好，我是alice，会在 4 小时内回复。"
    )
    with pytest.raises(DomainError, match=r"unknown variable \$phone"):
        canned_replies.save(db, title="bad", body="your number is $phone")
    with pytest.raises(DomainError, match="exists"):
        canned_replies.save(db, title="greeting", body="again")


def test_overdue_and_statistics(db, clock):
    agent = make_agent(db)
    fast = conversations.open_for_follower(db, make_identity(db, "o-1").id)[0]
    slow = conversations.open_for_follower(db, make_identity(db, "o-2").id)[0]
    db.commit()
    inbound(db, fast, "1")
    inbound(db, slow, "2")
    target = timedelta(hours=4)
    clock.advance(hours=1)
    for conv in (fast,):
        conv.first_response_at, conv.awaiting_since, conv.state = clock.current, None, "waiting"
    db.commit()
    clock.advance(hours=4)
    assert not service_level.is_overdue(fast, target) and service_level.is_overdue(slow, target)
    clock.advance(hours=48)
    figures = service_level.summary(db, target)
    assert (figures.open, figures.waiting, figures.overdue) == (1, 1, 1)
    assert figures.median_first_response == timedelta(hours=1)
    assert figures.window_missed == 1  # the slow one: never answered, and its window has closed
    conversations.resolve(db, slow, agent)
    db.commit()
    assert service_level.summary(db, target).open == 0


def test_export_and_erase_through_the_rights_registry(db, clock):
    account = Account(platform_account_id="p-1")
    identity = make_identity(db, account=account)
    agent = make_agent(db)
    conv = conversations.open_for_follower(db, identity.id)[0]
    db.commit()
    inbound(db, conv, "1", text="我想问一下面试时间")
    replies.add_note(db, conv, agent, "internal: VIP", "tok-1")
    db.commit()
    module = next(m for m in rights.modules() if m.name == "tickets")
    exported = module.export(db, account.id)
    assert [m["text"] for m in exported[0]["messages"]] == ["我想问一下面试时间"]  # the note stays internal
    assert module.erase(db, account.id) == {"conversations": 1, "messages": 2}
    db.commit()
    assert db.scalar(select(func.count()).select_from(Conversation)) == 0
    assert db.scalar(select(func.count()).select_from(TicketMessage)) == 0
    audit_rows = db.scalars(select(AuditEntry)).all()
    assert all("面试" not in row.detail for row in audit_rows)
