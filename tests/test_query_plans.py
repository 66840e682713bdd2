"""The callback's statements reach their rows through indexes, so their cost stays flat as the tables grow:
every statement a signed text message, a menu click, a follow and a WeChat report send is EXPLAINed on
MariaDB, and none reads a whole table (type ALL)."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy import text as sa_text

from tests.wechat_helpers import Follower
from wxbot.models import Identity, Notification


@pytest.fixture
def statements(backend, services):
    if backend != "production":
        pytest.skip("query plans are MariaDB's")
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            seen.append((statement, parameters))

    event.listen(services.engine, "before_cursor_execute", record)
    yield seen
    event.remove(services.engine, "before_cursor_execute", record)


def _plans(services, seen) -> list[dict]:
    rows = []
    raw = services.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in seen:
            cursor.execute("EXPLAIN " + statement, parameters)
            names = [c[0] for c in cursor.description]
            rows += [
                dict(zip(names, row, strict=True)) | {"statement": statement[:80]}
                for row in cursor.fetchall()
            ]
        raw.rollback()
    finally:
        raw.close()
    return rows


def test_the_callbacks_statements_never_read_a_whole_table(client, services, db, statements):
    others = [Follower(client) for _ in range(20)]
    for other in others:  # a few rows in every table, so that a scan would be a choice, not a shortcut
        other.follow()
        other.send_text("你好")
    follower = Follower(client)
    follower.follow()
    identity = db.query(Identity).filter_by(openid=follower.openid).one()
    db.add(Notification(purpose="application_status", identity_id=identity.id, content={"text": "x"},
                        channels="template", status="sent", sent_app="oa", msgid="424242"))  # fmt: skip
    db.commit()
    statements.clear()
    follower.send_text("帮助")
    follower.click("HELP")
    follower.event("TEMPLATESENDJOBFINISH", MsgID="424242", Status="success")
    follower.send_text("帮助")
    follower.redeliver()
    assert statements
    # (an INSERT's own table shows as ALL: it is written, not read)
    plans = _plans(services, statements)
    full_scans = [p for p in plans if p["type"] == "ALL" and p["select_type"] != "INSERT"]
    assert full_scans == []


def test_the_lease_renewal_and_the_retention_job_never_read_a_whole_table(services, db, statements):
    """At scale (bench/scale.py) these scanned the outbox, the inbound log, the conversations and the
    identities whole, while the callback and the sender wrote to them."""
    from datetime import timedelta

    from jobs.retention import run_retention
    from wxbot import clock
    from wxbot.models import InboundMessage
    from wxbot.models.conversations import Conversation
    from wxbot.push import results

    now = clock.now()
    ages = [timedelta(days=400) if i < 3 else timedelta(hours=i) for i in range(60)]  # a few rows expired
    identities = [Identity(app_name="oa", appid="wxoa000000000001", kind="official", openid=f"o-plan-{i}",
                           subscribed=i % 2 == 0, unsubscribed_at=None if i % 2 == 0 else now - ages[i])
                  for i in range(60)]  # fmt: skip
    db.add_all(identities)
    db.flush()
    for i, identity in enumerate(identities):
        age = ages[i]
        db.add(Notification(purpose="application_status", identity_id=identity.id, content={"text": "x"},
                            channels="template", status="sending" if i % 3 == 0 else "sent", claim_token=f"t{i}",
                            created_at=now - age))  # fmt: skip
        db.add(InboundMessage(app_name="oa", appid=identity.appid, dedupe_key=f"plan-{i}", identity_id=identity.id,
                              msg_type="text", sent_at=now - age, fields={}, received_at=now - age))  # fmt: skip
        db.add(Conversation(identity_id=identity.id, state="resolved", resolved_at=now - age))
    db.commit()
    db.execute(sa_text("ANALYZE TABLE notifications, inbound_messages, conversations, identities"))
    statements.clear()
    results.renew(db, services.settings, ["t3", "t6"])
    db.rollback()
    run_retention(services, force=True)
    assert statements
    # (not the INSERTs, nor the batched deletes by id: executemany, and by primary key)
    reads = [
        (s, p)
        for s, p in statements
        if not s.lstrip().upper().startswith("INSERT") and not isinstance(p, list)
    ]
    plans = _plans(services, reads)
    big = {"notifications", "inbound_messages", "conversations", "identities"}
    full_scans = [p for p in plans if p["type"] == "ALL" and p["table"] in big]
    assert full_scans == [], [(p["table"], p["statement"]) for p in full_scans]
