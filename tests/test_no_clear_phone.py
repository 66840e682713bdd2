"""After a full scenario, no phone number is in clear anywhere in the database (read raw, table by table,
with SQL) or in the captured logs."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from jobs.retention import run_retention
from tests.privacy_helpers import make_person
from wxbot import privacy
from wxbot.db import Base

PHONES = ["13812345678", "13987654321", "15011112222"]


def test_no_phone_number_in_clear_in_the_tables_or_the_logs(db, services, clock, caplog):
    caplog.set_level(logging.DEBUG)
    people = [make_person(db, services, phone=p, linked=i != 2)[0] for i, p in enumerate(PHONES)]
    first, second, _ = people
    privacy.export_account(db, services.pii, first.id, actor="user", channel="miniprogram")
    privacy.request_correction(
        db, second.id, f"我的手机号应为 {PHONES[1]}，请更正", channel="official_account"
    )
    privacy.reveal_phone(db, services.pii, second.id, actor="admin:1")
    privacy.request_cancellation(db, first.id, review_days=7, channel="miniprogram")
    db.commit()
    logging.getLogger("wxbot.careless").warning("bound account to %s", PHONES[0])  # the net under the rule
    clock.advance(days=8)
    run_cancellations(services)
    clock.advance(days=40)
    run_retention(services)

    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(sa.text(f"SELECT * FROM {table.name}")):  # noqa: S608  (our own table names)
                text = " ".join(str(v) for v in row)
                for phone in PHONES:
                    assert phone not in text, f"{phone} in clear in {table.name}"
    assert caplog.records, "the scenario logged nothing, so the log check would prove nothing"
    for phone in PHONES:
        assert phone not in caplog.text
    assert "bound account to 138****5678" in caplog.text
