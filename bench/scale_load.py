"""The data of bench/scale.py: the bulk load of the full database, and the fixture both databases get alike.

The bulk load is server-side INSERT ... SELECT from MariaDB's sequence tables (minutes, not hours). At --scale 1:
300,000 accounts (a share of the followers linked), 1,000,000 official-account identities (the first 300,000
linked to those accounts) and 100,000 mini-program identities of the same accounts, 5,000,000 inbound messages
over a year (received in the order of their ids), 200,000 conversations (one in twenty unresolved) with
400,000 messages, 2,000,000 outbox rows, 600,000 applications (two per account) with 1,200,000 status changes.

The fixture, the same in both databases and added after the bulk load: an agent, 60 followers each with an
open conversation of two messages (the near-empty database's inbox is one full page and a bit), and a
mini-program user linked to an account with 20 applications of 3 status changes each; the figures compare
the same person's pages, among a year of others' rows or alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

SIZES = {"accounts": 300_000, "identities": 1_000_000, "mp_identities": 100_000, "inbound_messages": 5_000_000,
         "conversations": 200_000, "ticket_messages": 400_000, "notifications": 2_000_000,
         "applications": 600_000, "application_status_changes": 1_200_000}  # fmt: skip
CHUNK = 250_000
MP_APPID, MP_NAME = "wxbenchmp0000001", "benchmp"
AGENT, PASSWORD = "bench", "correct horse battery"
FIXTURE_FOLLOWERS = 60
FIXTURE_APPLICATIONS = 20
SEARCH_TEXT = "宣讲会门票"  # said in a few fixture conversations only
BODIES = "'你好，请问还招人吗', '面试时间是什么时候', '我想投简历', '请问实习生有补贴吗', '简历已经发了'"
STATUSES = "'delivered', 'viewed', 'to_communicate', 'interview', 'rejected', 'hired'"

# Each statement fills rows [a, b] of a table ({count}: the table's rows; official identities' ids are 1..{n}, accounts' 1..{acc},
# mini-program identities' {n}+1..{n}+{mp}, conversations' 1..{conv}, applications' 1..{apps}: given, as a bulk
# insert's auto-increment leaves gaps). {appid}: the plaintext official account the callback's deliveries go to.
LOAD = {
    "accounts": """INSERT INTO accounts (id, platform_account_id, phone_hash, reminder_pref, status, created_at,
        updated_at)
        SELECT seq, CONCAT('pBench', seq), SHA2(CONCAT('phone', seq), 256), 'all', 'active',
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
    "identities": """INSERT INTO identities (id, app_name, appid, kind, openid, account_id, subscribed,
        subscribed_at, last_interaction_at, message_window_remaining, action_window_remaining, created_at,
        updated_at)
        SELECT seq, 'benchplain', '{appid}', 'official', CONCAT('oBench', LPAD(seq - 1, 22, '0')),
        IF(seq <= {acc}, seq, NULL), 1, NOW() - INTERVAL (MOD(seq, 365)) DAY,
        NOW() - INTERVAL (MOD(seq, 86400)) MINUTE, 0, 0, NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW()
        FROM seq_{a}_to_{b}""",
    "mp_identities": """INSERT INTO identities (id, app_name, appid, kind, openid, account_id, subscribed,
        message_window_remaining, action_window_remaining, created_at, updated_at)
        SELECT {n} + seq, '{mp_name}', '{mp_appid}', 'miniprogram', CONCAT('oMpBench', LPAD(seq, 20, '0')), seq,
        0, 0, 0, NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
    "inbound_messages": """INSERT INTO inbound_messages (app_name, appid, dedupe_key, identity_id, msg_type,
        msg_id, sent_at, fields, reply, received_at)
        SELECT 'benchplain', '{appid}', CONCAT('m:', seq), 1 + MOD(seq * 7919, {n}), 'text', seq,
        NOW() - INTERVAL (FLOOR(({count} - seq) * 31536000 / {count})) SECOND,
        '{{"Content": "你好，请问还招人吗"}}', '{{"type": "text", "content": "你好"}}',
        NOW() - INTERVAL (FLOOR(({count} - seq) * 31536000 / {count})) SECOND FROM seq_{a}_to_{b}""",
    "conversations": """INSERT INTO conversations (id, identity_id, open_identity_id, state, awaiting_since,
        first_user_message_at, last_user_message_at, first_response_at, created_at, updated_at, resolved_at)
        SELECT seq, seq, IF(MOD(seq, 20) = 0 AND seq > 1000, seq, NULL),
        IF(MOD(seq, 20) = 0 AND seq > 1000, 'open', 'resolved'),
        IF(MOD(seq, 20) = 0 AND seq > 1000, NOW() - INTERVAL (MOD(seq, 7200)) MINUTE, NULL),
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() - INTERVAL (MOD(seq, 365)) DAY,
        IF(MOD(seq, 20) = 0 AND seq > 1000, NULL, NOW() - INTERVAL (MOD(seq, 365)) DAY),
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW(),
        IF(MOD(seq, 20) = 0 AND seq > 1000, NULL, NOW() - INTERVAL (MOD(seq, 365)) DAY + INTERVAL 1 HOUR)
        FROM seq_{a}_to_{b}""",
    "ticket_messages": """INSERT INTO ticket_messages (conversation_id, direction, kind, body, media_attempts,
        created_at)
        SELECT 1 + MOD(seq - 1, {conv}), IF(seq > {conv} AND MOD(seq, 20) <> 0, 'outbound', 'inbound'), 'text',
        ELT(1 + MOD(seq, 5), {bodies}), 0, NOW() - INTERVAL (MOD(seq, 365)) DAY FROM seq_{a}_to_{b}""",
    "notifications": """INSERT INTO notifications (purpose, identity_id, account_id, lane, content, channels,
        status, attempts, ended_channels, urgent, sent_app, msgid, sent_at, created_at, updated_at)
        SELECT 'application_status', 1 + MOD(seq * 7919, {n}), IF(1 + MOD(seq * 7919, {n}) <= {acc},
        1 + MOD(seq * 7919, {n}), NULL), CONCAT('i', 1 + MOD(seq * 7919, {n})), '{{"text": "状态更新"}}', 'template',
        ELT(1 + MOD(seq, 3), 'delivered', 'failed', 'skipped'), 1, '', 0, 'benchplain', CONCAT(seq),
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
    "applications": """INSERT INTO applications (id, platform_application_id, account_id, job_title, company,
        status, status_changed_at, created_at, updated_at)
        SELECT seq, CONCAT('aBench', seq), 1 + MOD(seq - 1, {acc}), '后端开发工程师', '示例科技',
        ELT(1 + MOD(seq, 6), {statuses}), NOW() - INTERVAL (MOD(seq, 365)) DAY,
        NOW() - INTERVAL (MOD(seq, 365)) DAY, NOW() FROM seq_{a}_to_{b}""",
    "application_status_changes": """INSERT INTO application_status_changes (event_id, body_hash,
        application_id, status, changed_at, stale, unchanged, received_at)
        SELECT CONCAT('eBench', seq), SHA2(seq, 256), 1 + MOD(seq - 1, {apps}), ELT(1 + MOD(seq, 6), {statuses}),
        NOW() - INTERVAL (MOD(seq, 365)) DAY, 0, 0, NOW() - INTERVAL (MOD(seq, 365)) DAY FROM seq_{a}_to_{b}""",
}


def load_tables(url: str, scale: float, appid: str) -> dict[str, int]:
    """The bulk load of the full database; returns the rows of each part."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    counts = {table: max(1000, int(size * scale)) for table, size in SIZES.items()}
    names = {"appid": appid, "n": counts["identities"], "acc": counts["accounts"],
             "conv": counts["conversations"], "apps": counts["applications"], "mp_name": MP_NAME,
             "mp_appid": MP_APPID, "bodies": BODIES, "statuses": STATUSES}  # fmt: skip
    with engine.connect() as conn:
        for table, count in counts.items():
            for a in range(1, count + 1, CHUNK):
                b = min(count, a + CHUNK - 1)
                conn.exec_driver_sql(LOAD[table].format(a=a, b=b, count=count, **names))
        for table in {t.removeprefix("mp_") for t in counts}:
            conn.exec_driver_sql(f"ANALYZE TABLE {table}")
    engine.dispose()
    return counts


def seed_fixture(app: Any, appid: str) -> dict[str, Any]:
    """The rows both databases get alike (see the module's doc), through the app's own code; returns what the
    page measurements need: the agent's credentials, a fixture follower's openid, the mini-program user's
    login token."""
    from wxbot import clock
    from wxbot.conversations import agents, conversations
    from wxbot.identity import logins
    from wxbot.models import Account, Application, Identity, StatusChange

    services = app.extensions["wxbot"]
    with services.session_factory() as session:
        agents.create_agent(session, username=AGENT, password=PASSWORD, role="admin")
        session.commit()
        for i in range(FIXTURE_FOLLOWERS):
            identity = Identity(app_name="benchplain", appid=appid, kind="official", openid=f"oFixture-{i}",
                                subscribed=True)  # fmt: skip
            session.add(identity)
            session.commit()
            conversation, _ = conversations.open_for_follower(session, identity.id)
            session.commit()
            for j, text in enumerate(
                ("你好，我想问面试时间", SEARCH_TEXT if i % 10 == 0 else "简历已经发了")
            ):
                conversations.add_inbound(session, conversation, appid=appid, msg_id=f"fx{i}-{j}", kind="text",
                                          content=text)  # fmt: skip
                session.commit()
        now = clock.now()
        account = Account(platform_account_id="pFixture", phone_hash="h" * 64, reminder_pref="all")
        user = Identity(
            app_name=MP_NAME, appid=MP_APPID, kind="miniprogram", openid="oMpFixture", account=account
        )
        follower = Identity(app_name="benchplain", appid=appid, kind="official", openid="oFixtureMp",
                            subscribed=True, account=account)  # fmt: skip
        session.add_all([user, follower])
        session.flush()
        for i in range(FIXTURE_APPLICATIONS):
            application = Application(platform_application_id=f"aFixture{i}", account_id=account.id, job_title="后端开发",
                                      company="示例科技", status="interview",
                                      status_changed_at=now - timedelta(days=i))  # fmt: skip
            session.add(application)
            for k, status in enumerate(("delivered", "viewed", "interview")):
                session.add(StatusChange(event_id=f"eFixture{i}-{k}", body_hash="0" * 64, application=application,
                                         status=status, changed_at=now - timedelta(days=i, hours=3 - k)))  # fmt: skip
        session.flush()
        token, _ = logins.start(session, user, ttl_seconds=86400)
        session.commit()
        account_id = account.id
    return {"openid": "oFixture-7", "token": token, "account_id": account_id}
