"""After a full scenario, no phone number is in clear anywhere in the database (read raw, table by table,
with SQL) or in the captured logs."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from jobs.retention import run_retention
from tests.helpers import platform_post
from tests.privacy_helpers import make_person
from tests.wechat_helpers import Follower
from wxbot.db import Base
from wxbot.privacy import access, cancellation, corrections

PHONES = ["13812345678", "13987654321", "15011112222"]
PLATFORM_PHONE = "18600001111"
ID_NUMBER = "11010119900307123X"


def _raw_rows(services):
    """Every row of every table, read with plain SQL, as text."""
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(sa.text(f"SELECT * FROM {table.name}")):  # noqa: S608  (our own table names)
                yield table.name, " ".join(str(v) for v in row)


def _assert_nothing_in_clear(services):
    seen = 0
    for table, text in _raw_rows(services):
        seen += 1
        for number in [*PHONES, PLATFORM_PHONE, ID_NUMBER]:
            assert number not in text, f"{number} in clear in {table}"
    assert seen, "no rows: the check would prove nothing"


def test_no_phone_number_in_clear_in_the_tables_or_the_logs(client, db, services, clock, caplog):
    caplog.set_level(logging.DEBUG)
    # an account the platform sends us, and a follower who types numbers to the official account
    created = platform_post(client, "/platform/accounts", {"account_id": "p-9", "phone": PLATFORM_PHONE})
    assert created.status_code == 201
    Follower(client).send_text(f"你好，我想问投递进度，电话 {PHONES[1]}，身份证 {ID_NUMBER}")
    people = [make_person(db, services, phone=p, linked=i != 2)[0] for i, p in enumerate(PHONES)]
    first, second, _ = people
    access.export_account(db, services.pii, first.id, actor="user", channel="miniprogram")
    corrections.request_correction(
        db, second.id, f"我的手机号应为 {PHONES[1]}，请更正", channel="official_account"
    )
    access.reveal_phone(db, services.pii, second.id, actor="admin:1")
    cancellation.request_cancellation(db, first.id, review_days=7, channel="miniprogram")
    db.commit()
    logging.getLogger("wxbot.careless").warning("bound account to %s", PHONES[0])  # the net under the rule

    _assert_nothing_in_clear(services)
    typed = [text for table, text in _raw_rows(services) if table == "inbound_messages"]
    assert any("139****4321" in text for text in typed)  # the message is kept, its numbers masked

    clock.advance(days=8)
    run_cancellations(services)
    clock.advance(days=40)
    run_retention(services)
    _assert_nothing_in_clear(services)

    assert caplog.records, "the scenario logged nothing, so the log check would prove nothing"
    for number in [*PHONES, PLATFORM_PHONE, ID_NUMBER]:
        assert number not in caplog.text
    assert "bound account to 138****5678" in caplog.text
