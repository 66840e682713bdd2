"""Key rotation: find every encrypted column (personal(..., encrypted=True)) and re-encrypt it under the
newest key, in batches, so a retired key can then be removed from [security] pii_keys; and recompute every
lookup hash under [security] hash_key, so the retired_hash_keys can then be removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.orm import Session

import wxbot.models  # noqa: F401  (every table registered on Base.metadata)
from wxbot.db import Base
from wxbot.models.base import is_encrypted
from wxbot.models.identity import Account
from wxbot.privacy.pii import PiiError, PiiKeys


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


# Each lookup hash and the encrypted column holding what it hashes, with the hash's purpose (PiiKeys).
HASHED = [(Account.__table__.c.phone_hash, Account.__table__.c.phone_enc, "phone")]


def rehash_batch(session: Session, pii: PiiKeys, *, after: Any = None, limit: int = 500) -> tuple[int, Any]:
    """Recompute up to `limit` accounts' phone hashes under the current hash key (those under a retired key
    change); returns (changed, last key seen or None), as reencrypt_batch."""
    ((hashed, source, purpose),) = HASHED
    (key,) = hashed.table.primary_key.columns
    query = select(key, hashed, source).where(source.is_not(None)).order_by(key).limit(limit)
    if after is not None:
        query = query.where(key > after)
    rows = session.execute(query).all()
    changed = 0
    for row_key, stored, token in rows:
        try:
            current = pii.lookup_hash(pii.decrypt(token), purpose)
        except PiiError as exc:
            raise RotationError(f"{hashed.table.name}.{source.name} row {row_key}: {exc}") from exc
        if stored != current:
            session.execute(update(hashed.table).where(key == row_key).values({hashed: current}))
            changed += 1
    return changed, (rows[-1][0] if len(rows) == limit else None)
