"""Retention rules: each module registers, per data class, how it deletes or anonymises what is too old.

  register(data_class, apply, description)
  apply(session, cutoff) -> Purged(deleted=..., anonymised=...): act on what is older than `cutoff`
      (naive UTC); counts only. The period comes from [retention] <data_class>_days in the config.

The daily job (jobs/retention.py) runs each rule in its own transaction and records a RetentionRun row per
data class. A module that registers here also lists itself in wxbot.privacy.registry.DATA_MODULES so every process
has loaded it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from wxbot.privacy import registry as rights


@dataclass(frozen=True)
class Purged:
    deleted: int = 0
    anonymised: int = 0


@dataclass(frozen=True)
class RetentionRule:
    data_class: str
    apply: Callable[[Session, datetime], Purged]
    description: str


_rules: dict[str, RetentionRule] = {}


def register(data_class: str, apply: Callable[[Session, datetime], Purged], description: str) -> None:
    _rules[data_class] = RetentionRule(data_class, apply, description)


def unregister(data_class: str) -> None:
    _rules.pop(data_class, None)


def rules() -> list[RetentionRule]:
    rights.load()
    return list(_rules.values())
