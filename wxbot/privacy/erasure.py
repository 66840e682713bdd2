"""The generic eraser: applies the personal() markers of a table's columns to the rows a query selects.

A module's erase function can be as short as `erase_rows(session, Conversation, Conversation.account_id
== account_id)`; the markers decide what happens: a table with a "row" column loses the rows, otherwise
"null" columns become NULL, "redact" columns the REDACTED marker, "pseudonym" columns a random value.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.orm import Session

from wxbot.models.base import eraser_of

REDACTED = "[erased]"


def _table(model_or_table: Any) -> Table:
    table = model_or_table if isinstance(model_or_table, Table) else model_or_table.__table__
    if not isinstance(table, Table):
        raise TypeError(f"not a table: {model_or_table!r}")
    return table


def pseudonym(length: int | None) -> str:
    """A random value that links to nobody, fitting a column of `length` characters."""
    value = f"erased-{secrets.token_hex(12)}"
    return value[: length or len(value)]


def erase_rows(session: Session, model_or_table: Any, *where: ColumnElement[bool]) -> int:
    """Erase the personal columns of the selected rows; returns how many rows were deleted or changed.

    Flushes first and expires the session afterwards, so loaded objects show the erased values.
    """
    if not where:
        raise ValueError("erase_rows needs a condition (refusing to erase a whole table)")
    table = _table(model_or_table)
    markers = {c.name: eraser_of(c) for c in table.columns if eraser_of(c)}
    if not markers:
        raise ValueError(f"{table.name} has no personal columns to erase")
    session.flush()
    if "row" in markers.values():
        count = session.execute(delete(table).where(*where)).rowcount  # type: ignore[attr-defined]
        session.expire_all()
        return int(count or 0)
    fixed: dict[str, Any] = {}
    for name, eraser in markers.items():
        if eraser == "null":
            fixed[name] = None
        elif eraser == "redact":
            fixed[name] = REDACTED[: getattr(table.c[name].type, "length", None) or len(REDACTED)]
    pseudonymous = [name for name, eraser in markers.items() if eraser == "pseudonym"]
    if not pseudonymous:
        count = session.execute(update(table).where(*where).values(**fixed)).rowcount  # type: ignore[attr-defined]
        session.expire_all()
        return int(count or 0)
    key = list(table.primary_key.columns)
    rows = session.execute(select(*key).where(*where)).all()
    for row in rows:
        values = dict(fixed)
        for name in pseudonymous:
            values[name] = pseudonym(getattr(table.c[name].type, "length", None))
        session.execute(
            update(table).where(*(c == v for c, v in zip(key, row, strict=True))).values(**values)
        )
    session.expire_all()
    return len(rows)
