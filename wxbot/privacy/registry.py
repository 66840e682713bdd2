"""The users' rights across modules: each module registers what it exports, how it erases, and more.

A module that stores per-user data calls register() at import time, and adds its import path to
DATA_MODULES below so that every process (web and jobs) has loaded it before the registry is walked:

  register(name, export, erase, label=..., tables=(...), deletions=..., correct=..., correctable=...,
           forget_follower=..., export_identities=..., erase_identities=...)

  export(session, account_id) -> JSON-able data about that account (phone numbers masked)
  erase(session, account_id) -> {"what": count} of rows erased or anonymised (counts, never content);
      runs inside the cancellation's transaction, before identities are unlinked
  label: what a person reads for this data (e.g. "留言"), in summaries on the official account
  erase_order: erasures run from the lowest up (default 0); a module whose erase removes what others find
      the account's data by (the identity module unlinks identities) registers a higher one
  tables: the tables whose personal columns this module answers for (a test checks that every table
      with a personal column is claimed by a module)
  deletions: {"conversations": fn(session, account_id) -> count}: data the user may delete on its own
  identity_deletions: {"conversations": fn(session, identity_ids) -> count}: the same for a WeChat person who
      never linked an account
  correctable + correct: field names the user may correct, and fn(session, account_id, {field: value})
      -> list of fields changed; raise rights.InvalidCorrection for a refused value
  forget_follower(session, identity_id) -> {"what": count}: what an unsubscribe makes unnecessary
      (WeChat's rule; wxbot.privacy.rights.on_unsubscribe calls it)
  export_identities(session, identity_ids) / erase_identities(session, identity_ids) -> Counts: the same
      for a WeChat person who never linked an account (a mini-program user without a phone, a follower),
      keyed by their identities; a module holding data found through identities registers both, a module
      whose data needs an account (applications, sign-ups) registers neither

The privacy module (wxbot.privacy.rights) walks the registry for GET me/export, corrections, deletions,
cancellations and unsubscribes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

# Modules that register with this registry (and with wxbot.privacy.retention). Add yours.
DATA_MODULES: tuple[str, ...] = (
    "wxbot.privacy.rights",
    "wxbot.identity.identities",
    "wxbot.privacy.message_log",
    "wxbot.identity.logins",
    "wxbot.applications.status_changes",
    "wxbot.push.notify",
    "wxbot.conversations.tickets",
    "wxbot.campus.events",
)

Counts = dict[str, int]


class InvalidCorrection(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name
        self.message = message


@dataclass(frozen=True)
class DataModule:
    name: str
    export: Callable[[Session, int], Any]
    erase: Callable[[Session, int], Counts]
    label: str = ""
    erase_order: int = 0
    tables: tuple[str, ...] = ()
    deletions: Mapping[str, Callable[[Session, int], int]] = field(default_factory=dict)
    identity_deletions: Mapping[str, Callable[[Session, list[int]], int]] = field(default_factory=dict)
    correctable: tuple[str, ...] = ()
    correct: Callable[[Session, int, dict[str, Any]], list[str]] | None = None
    forget_follower: Callable[[Session, int], Counts] | None = None
    export_identities: Callable[[Session, list[int]], Any] | None = None
    erase_identities: Callable[[Session, list[int]], Counts] | None = None


_modules: dict[str, DataModule] = {}


def register(
    name: str,
    export: Callable[[Session, int], Any],
    erase: Callable[[Session, int], Counts],
    *,
    label: str = "",
    erase_order: int = 0,
    tables: tuple[str, ...] = (),
    deletions: Mapping[str, Callable[[Session, int], int]] | None = None,
    identity_deletions: Mapping[str, Callable[[Session, list[int]], int]] | None = None,
    correctable: tuple[str, ...] = (),
    correct: Callable[[Session, int, dict[str, Any]], list[str]] | None = None,
    forget_follower: Callable[[Session, int], Counts] | None = None,
    export_identities: Callable[[Session, list[int]], Any] | None = None,
    erase_identities: Callable[[Session, list[int]], Counts] | None = None,
) -> None:
    if correctable and correct is None:
        raise ValueError(f"{name}: correctable fields need a correct function")
    if (export_identities is None) != (erase_identities is None):
        raise ValueError(f"{name}: export_identities and erase_identities go together")
    _modules[name] = DataModule(
        name=name,
        export=export,
        erase=erase,
        label=label or name,
        erase_order=erase_order,
        tables=tables,
        deletions=dict(deletions or {}),
        identity_deletions=dict(identity_deletions or {}),
        correctable=correctable,
        correct=correct,
        forget_follower=forget_follower,
        export_identities=export_identities,
        erase_identities=erase_identities,
    )


def unregister(name: str) -> None:
    _modules.pop(name, None)


def load() -> None:
    """Import every module of DATA_MODULES so its registrations are in place (idempotent)."""
    for path in DATA_MODULES:
        importlib.import_module(path)


def modules() -> list[DataModule]:
    load()
    return list(_modules.values())


def erase_sequence() -> list[DataModule]:
    """The modules in the order their erasures run."""
    return sorted(modules(), key=lambda m: m.erase_order)


def module(name: str) -> DataModule | None:
    load()
    return _modules.get(name)
