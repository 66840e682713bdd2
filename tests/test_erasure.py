"""The generic eraser applies each column's personal() marker to the selected rows and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select

from tests.privacy_helpers import make_person
from wxbot.models import Account, Identity
from wxbot.models.base import personal
from wxbot.privacy.erasure import REDACTED, erase_rows


def test_markers_are_applied_to_the_selected_rows_only(db, services):
    target, follower, _ = make_person(db, services)
    other, other_follower, _ = make_person(db, services, phone="13900005555")
    assert erase_rows(db, Identity, Identity.id == follower.id) == 1
    assert erase_rows(db, Account, Account.id == target.id) == 1
    db.commit()
    erased = db.get(Identity, follower.id)
    assert erased.openid.startswith("erased-") and erased.unionid is None and erased.subscribe_scene is None
    assert erased.app_name == "oa"  # not personal: kept
    assert db.get(Account, target.id).phone_enc is None and db.get(Account, target.id).phone_hash is None
    assert db.get(Identity, other_follower.id).openid == other_follower.openid
    assert db.get(Account, other.id).phone_enc is not None


def test_pseudonyms_are_distinct():
    from wxbot.privacy.erasure import pseudonym

    assert len({pseudonym(64) for _ in range(100)}) == 100
    assert len(pseudonym(10)) == 10


def test_redact_and_row_erasers_on_a_scratch_table(tmp_path):
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    metadata = MetaData()
    notes = Table("notes", metadata, Column("id", Integer, primary_key=True),
                  Column("body", Text, nullable=False, info=personal("redact")),
                  Column("tag", String(4), nullable=False, info=personal("redact")))  # fmt: skip
    log = Table("log", metadata, Column("id", Integer, primary_key=True),
                Column("line", Text, info=personal("row")))  # fmt: skip
    engine = sa.create_engine(f"sqlite:///{tmp_path}/scratch.db")
    metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(
            notes.insert(), [{"id": 1, "body": "我叫张三", "tag": "abcd"}, {"id": 2, "body": "b", "tag": "x"}]
        )
        session.execute(log.insert(), [{"id": 1, "line": "a"}, {"id": 2, "line": "b"}])
        assert erase_rows(session, notes, notes.c.id == 1) == 1
        assert erase_rows(session, log, log.c.id == 2) == 1
        assert session.execute(select(notes.c.body, notes.c.tag).where(notes.c.id == 1)).one() == (
            REDACTED,
            REDACTED[:4],
        )
        assert session.scalars(select(log.c.id)).all() == [1]
        with pytest.raises(ValueError, match="condition"):
            erase_rows(session, notes)
    engine.dispose()
