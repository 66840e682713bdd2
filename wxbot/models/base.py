"""Column helpers shared by every model.

Personal data is declared where it is defined: a column holding personal information carries
info=personal(<eraser>), naming how it is erased (wxbot.privacy.erasure applies these markers):
  "null"      set to NULL
  "redact"    replace with a fixed marker (for NOT NULL text)
  "pseudonym" replace with a random, unlinkable value (for NOT NULL unique keys such as openids)
  "row"       delete the whole row
A column holding a ciphertext from services.pii also says encrypted=True, so `wxbot keys rotate` finds it.
tests/test_personal_columns.py fails when a personal column names no known eraser, when an eraser cannot
work on its column, and when a column whose name looks personal carries no marker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.orm import Mapped, mapped_column

from wxbot import clock

ERASERS = ("null", "redact", "pseudonym", "row")


def personal(eraser: str, *, encrypted: bool = False) -> dict[str, Any]:
    if eraser not in ERASERS:
        raise ValueError(f"unknown eraser {eraser!r}")
    info: dict[str, Any] = {"personal": eraser}
    if encrypted:
        info["encrypted"] = True
    return info


def eraser_of(column: Column[Any]) -> str | None:
    return column.info.get("personal")


def is_encrypted(column: Column[Any]) -> bool:
    return bool(column.info.get("encrypted"))


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime, default=clock.now, nullable=False)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime, default=clock.now, onupdate=clock.now, nullable=False)
