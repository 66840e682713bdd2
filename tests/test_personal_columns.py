"""The personal-column rule, checked over every table of every module (Base.metadata):

- a column marked personal names a known eraser, and one that can work on it;
- a column whose name looks personal is marked, unless it is on the allow-list below with its reason;
- encrypted columns are marked, and every *_enc column is marked encrypted;
- every table with personal columns is answered for by a rights module (export and erase) or the core.
"""

from __future__ import annotations

import re

from sqlalchemy import String, Text

import wxbot.models  # noqa: F401
from wxbot.db import Base
from wxbot.models.base import ERASERS, eraser_of, is_encrypted
from wxbot.privacy import cancellation
from wxbot.privacy import registry as rights

LOOKS_PERSONAL = re.compile(
    r"(^|_)(phone|mobile|openid|unionid|name|real_name|nickname|id_number|id_card|email|address|birth"
    r"|birthday|content|avatar|school|wechat_id|remark|resume|ip)(_|$)"
)

# Columns that look personal by name but hold nothing about a person; each says why. "*": in any table.
NOT_PERSONAL = {
    ("*", "app_name"): "the configured WeChat app's name ([[wechat.official]] name), not a person's",
    ("events", "school"): "the school hosting the event, not a person's",
}


def _allowed(table, column):
    return (table.name, column.name) in NOT_PERSONAL or ("*", column.name) in NOT_PERSONAL


def _columns():
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            yield table, column


def test_every_personal_column_names_an_eraser_that_can_work():
    problems = []
    for table, column in _columns():
        eraser = eraser_of(column)
        if eraser is None:
            continue
        where = f"{table.name}.{column.name}"
        if eraser not in ERASERS:
            problems.append(f"{where}: unknown eraser {eraser!r}")
        elif eraser == "null" and not column.nullable:
            problems.append(f"{where}: eraser 'null' on a NOT NULL column (use redact, pseudonym or row)")
        elif eraser in ("redact", "pseudonym") and not isinstance(column.type, String | Text):
            problems.append(f"{where}: eraser {eraser!r} needs a text column")
        elif column.primary_key or column.foreign_keys:
            problems.append(f"{where}: keys are not personal data; erase the row or what it points to")
    assert problems == []


def test_columns_that_look_personal_are_marked():
    unmarked = [
        f"{table.name}.{column.name}"
        for table, column in _columns()
        if LOOKS_PERSONAL.search(column.name)
        and not column.name.endswith("_at")  # when something happened, not the thing itself
        and eraser_of(column) is None
        and not _allowed(table, column)
    ]
    assert unmarked == [], (
        "these columns look personal: declare info=personal('<eraser>') (wxbot/models/base.py), or add them "
        "to NOT_PERSONAL in this test with the reason"
    )


def test_the_allow_list_names_real_columns():
    names = {(t.name, c.name) for t, c in _columns()} | {("*", c.name) for _, c in _columns()}
    assert set(NOT_PERSONAL) <= names


def test_encrypted_columns_are_personal_and_named_so():
    for table, column in _columns():
        where = f"{table.name}.{column.name}"
        if is_encrypted(column):
            assert eraser_of(column) is not None, where
            assert isinstance(column.type, Text), f"{where}: ciphertexts grow; use Text"
        if column.name.endswith("_enc"):
            assert is_encrypted(column), f"{where}: mark it personal(..., encrypted=True) so keys rotate it"


def test_every_table_with_personal_data_is_exported_and_erased_by_someone():
    claimed = set(cancellation.CORE_TABLES) | {t for m in rights.modules() for t in m.tables}
    unclaimed = sorted(
        {table.name for table, column in _columns() if eraser_of(column) is not None} - claimed
    )
    assert unclaimed == [], (
        "tables with personal columns but no rights module: register export/erase for them with "
        "a DataDeclaration(..., tables=(...)) listed in wxbot/privacy/declarations.py"
    )
