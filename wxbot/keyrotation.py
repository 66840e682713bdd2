"""Key rotation: find every encrypted column (personal(..., encrypted=True)) and re-encrypt it under the
newest key, in batches, so a retired key can then be removed from [security] pii_keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.orm import Session

import wxbot.models  # noqa: F401  (every table registered on Base.metadata)
from wxbot.db import Base
from wxbot.models.base import is_encrypted
from wxbot.pii import PiiError, PiiKeys


class RotationError(RuntimeError):
    """A ciphertext that no configured key opens; names the row, never the data."""


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column[Any]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def encrypted_columns() -> list[EncryptedColumn]:
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if is_encrypted(column):
                if len(table.primary_key.columns) != 1:
                    raise RotationError(f"{table.name}: rotation needs a single-column primary key")
                found.append(EncryptedColumn(table, column))
    return found


def reencrypt_batch(
    session: Session, pii: PiiKeys, target: EncryptedColumn, *, after: Any = None, limit: int = 500
) -> tuple[int, Any]:
    """Re-encrypt up to `limit` rows with a primary key above `after`; returns (changed, last key seen or None)."""
    (key,) = target.table.primary_key.columns
    query = select(key, target.column).where(target.column.is_not(None)).order_by(key).limit(limit)
    if after is not None:
        query = query.where(key > after)
    rows = session.execute(query).all()
    changed = 0
    for row_key, token in rows:
        try:
            fresh = pii.reencrypt(token)
        except PiiError as exc:
            raise RotationError(f"{target.name} row {row_key}: {exc}") from exc
        if fresh is not None:
            session.execute(
                update(target.table)
                .where(key == row_key, target.column == token)
                .values({target.column: fresh})
            )
            changed += 1
    return changed, (rows[-1][0] if len(rows) == limit else None)
