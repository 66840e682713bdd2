"""The users' rights across modules: each module registers what it exports and how it erases.

A module calls register() at import time with two plain functions over a session and an account id:
  export(session, account_id) -> JSON-able data about that account
  erase(session, account_id)  -> {"what": count} of rows erased or anonymised (counts, never content)
The privacy module walks the registry for GET me/export and for cancellation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class DataModule:
    name: str
    export: Callable[[Session, int], Any]
    erase: Callable[[Session, int], dict[str, int]]


_modules: dict[str, DataModule] = {}


def register(
    name: str, export: Callable[[Session, int], Any], erase: Callable[[Session, int], dict[str, int]]
) -> None:
    _modules[name] = DataModule(name, export, erase)


def modules() -> list[DataModule]:
    return list(_modules.values())
