"""Retention rules: per data class, how a module deletes or anonymises what is too old.

A module lists its rules in its DataDeclaration (wxbot.privacy.registry); the period comes from
[retention] <data_class>_days in the config. The daily job (jobs/retention.py) runs each rule in its own
transaction and records a RetentionRun row per data class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Purged:
    deleted: int = 0
    anonymised: int = 0


@dataclass(frozen=True)
class RetentionRule:
    """apply(session, cutoff) -> Purged: act on what is older than `cutoff` (naive UTC); counts only."""

    data_class: str
    apply: Callable[[Session, datetime], Purged]
    description: str
