"""Column helpers shared by every model.

Personal data is declared where it is defined: a column holding personal information carries
info={"personal": <eraser>} (use personal()), naming how the privacy module erases it:
  "null"      set to NULL
  "redact"    replace with a fixed marker (for NOT NULL text)
  "pseudonym" replace with a random, unlinkable value (for NOT NULL unique keys such as openids)
  "row"       delete the whole row
A test fails when a personal column names no known eraser.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from wxbot import clock

ERASERS = ("null", "redact", "pseudonym", "row")


def personal(eraser: str) -> dict[str, Any]:
    if eraser not in ERASERS:
        raise ValueError(f"unknown eraser {eraser!r}")
    return {"personal": eraser}


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime, default=clock.now, nullable=False)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime, default=clock.now, onupdate=clock.now, nullable=False)
