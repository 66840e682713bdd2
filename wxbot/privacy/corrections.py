"""The right of correction: the profile fields a user corrects themselves (through the module that declared
them), and a correction request staff answer within the 15 days."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wxbot.errors import Invalid
from wxbot.models.privacy import PrivacyRequest
from wxbot.privacy import audit
from wxbot.privacy import registry as rights
from wxbot.privacy.pii import mask_numbers
from wxbot.privacy.requests import track
from wxbot.privacy.subjects import active_account, subject

MAX_MESSAGE_CHARS = 1000


def correctable_fields() -> dict[str, list[str]]:
    """The profile fields a user may correct, by module."""
    return {m.name: list(m.correctable) for m in rights.modules() if m.correctable}


def correct_profile(
    session: Session, account_id: int, changes: dict[str, dict[str, Any]], *, actor: str, channel: str
) -> dict[str, list[str]]:
    """Apply the user's corrections, all or nothing: {"events": {"name": "..."}} -> fields changed per module.

    A refused value raises rights.InvalidCorrection (the caller's transaction rolls back).
    """
    active_account(session, account_id)
    if not changes:
        raise Invalid("nothing_to_correct", "没有需要更正的内容")
    plan: list[tuple[rights.DataDeclaration, dict[str, Any]]] = []
    for name, fields in changes.items():
        module = rights.module(name)
        if module is None or module.correct is None or not isinstance(fields, dict) or not fields:
            raise Invalid("unknown_field", f"{name}: 没有可以更正的字段")
        unknown = sorted(set(fields) - set(module.correctable))
        if unknown:
            raise Invalid("unknown_field", f"{name}.{unknown[0]}: 不能在这里更正")
        plan.append((module, fields))
    changed: dict[str, list[str]] = {}
    for module, fields in plan:
        assert module.correct is not None
        changed[module.name] = module.correct(session, account_id, dict(fields))
    names = ", ".join(f"{m}.{f}" for m, fs in changed.items() for f in fs)
    track(
        session,
        account_id=account_id,
        kind="correction",
        channel=channel,
        completed=True,
        detail=f"fields: {names}",
        handled_by=actor,
    )
    audit.log(
        session,
        actor=actor,
        action="profile.correct",
        subject_type="account",
        subject_id=account_id,
        detail=f"fields: {names}",
    )
    return changed


def request_correction(
    session: Session, account_id: int | None, message: str, *, identity_id: int | None = None, channel: str
) -> PrivacyRequest:
    """A correction the user cannot make themselves: staff answer it within RESPONSE_DAYS. With account_id
    None, from a person who never linked an account, through `identity_id`."""
    subject(session, account_id, identity_id)
    message = (message or "").strip()
    if not message:
        raise Invalid("empty_message", "请说明需要更正的内容")
    if len(message) > MAX_MESSAGE_CHARS:
        raise Invalid("too_long", f"说明最多{MAX_MESSAGE_CHARS}个字")
    # Phone and ID numbers typed into the text are not kept in clear: they are corrected through their own
    # authorised flows, not by staff reading them.
    return track(
        session,
        account_id=account_id,
        identity_id=identity_id,
        kind="correction",
        channel=channel,
        completed=False,
        message=mask_numbers(message),
    )
