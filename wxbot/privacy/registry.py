"""The users' rights across modules, from one list of declarations (wxbot.privacy.declarations).

Each module that holds personal data exposes one `DataDeclaration`: what it exports, how it erases, what a
person may delete or correct, what it retains and for how long, and what a consent withdrawal stops.

  export(session, account_id) -> JSON-able data about that account (phone numbers masked)
  erase(session, account_id) -> {"what": count} of rows erased or anonymised (counts, never content);
      runs inside the cancellation's transaction, before identities are unlinked
  label: what a person reads for this data (e.g. "留言"), in summaries on the official account
  erase_order: erasures run from the lowest up (default 0); a module whose erase removes what others find
      the account's data by (the identity module unlinks identities) declares a higher one
  tables: the tables whose personal columns this module answers for (a test checks that every table
      with a personal column is claimed by a module)
  deletions: {"conversations": fn(session, account_id) -> count}: data the user may delete on its own
  identity_deletions: {"conversations": fn(session, identity_ids) -> count}: the same for a WeChat person who
      never linked an account
  correctable + correct: field names the user may correct, and fn(session, account_id, {field: value})
      -> list of fields changed; raise InvalidCorrection for a refused value
  forget_follower(session, identity_id) -> {"what": count}: what an unsubscribe makes unnecessary
      (WeChat's rule; wxbot.privacy.unsubscribe.on_unsubscribe calls it)
  export_identities(session, identity_ids) / erase_identities(session, identity_ids) -> Counts: the same
      for a WeChat person who never linked an account (a mini-program user without a phone, a follower),
      keyed by their identities; a module holding data found through identities declares both, a module
      whose data needs an account (applications, sign-ups) declares neither
  retention: the module's RetentionRules (wxbot.privacy.retention runs them daily)
  withdrawals: {consent kind: fn(session, account_id, identity_id, scope)}: called in the withdrawing
      transaction (wxbot.privacy.consent.withdraw), so nothing queued survives a withdrawal

The rights modules of wxbot.privacy (access, corrections, deletions, cancellation, unsubscribe) walk the
registry for GET me/export, corrections, deletions, cancellations and unsubscribes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from wxbot.errors import Invalid
from wxbot.privacy.retention import RetentionRule

Counts = dict[str, int]
# listener(session, account_id, identity_id, scope) -> None
WithdrawListener = Callable[[Session, int | None, int | None, str], Any]


class InvalidCorrection(Invalid):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__("invalid_field", f"{field_name}: {message}", field=field_name)
        self.field_name = field_name
        self.reason = message


@dataclass(frozen=True)
class DataDeclaration:
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
    retention: tuple[RetentionRule, ...] = ()
    withdrawals: Mapping[str, WithdrawListener] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.correctable and self.correct is None:
            raise ValueError(f"{self.name}: correctable fields need a correct function")
        if (self.export_identities is None) != (self.erase_identities is None):
            raise ValueError(f"{self.name}: export_identities and erase_identities go together")
        if not self.label:
            object.__setattr__(self, "label", self.name)


_declared: dict[str, DataDeclaration] = {}


def declared() -> dict[str, DataDeclaration]:
    """Every declaration by name, in the order of wxbot.privacy.declarations.DECLARATIONS."""
    if not _declared:
        # Imported here, not at the top: the declaring modules import this one for DataDeclaration.
        from wxbot.privacy.declarations import DECLARATIONS

        names = [d.name for d in DECLARATIONS]
        if len(set(names)) != len(names):
            raise ValueError(f"two declarations share a name: {names}")
        _declared.update((d.name, d) for d in DECLARATIONS)
    return _declared


def modules() -> list[DataDeclaration]:
    return list(declared().values())


def erase_sequence() -> list[DataDeclaration]:
    """The modules in the order their erasures run."""
    return sorted(modules(), key=lambda m: m.erase_order)


def module(name: str) -> DataDeclaration | None:
    return declared().get(name)


def retention_rules() -> list[RetentionRule]:
    return [rule for d in declared().values() for rule in d.retention]


def withdrawal_listeners(kind: str) -> list[WithdrawListener]:
    return [d.withdrawals[kind] for d in declared().values() if kind in d.withdrawals]
