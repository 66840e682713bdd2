"""Withdrawing a consent as a rights request: at once and everywhere (wxbot.privacy.consent.withdraw), except
the consents the account rests on, which are withdrawn by cancelling it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wxbot.errors import Conflict, Invalid
from wxbot.privacy import consent
from wxbot.privacy.requests import track
from wxbot.privacy.subjects import active_account

# Consents the account itself rests on (the policy, and the phone number that keys it)
ACCOUNT_CONSENTS = ("privacy_policy", "phone")


def withdraw_consent(
    session: Session, account_id: int, kind: str, *, scope: str = "", actor: str, channel: str
) -> int:
    """Withdraw a consent everywhere, at once (the ledger's listeners stop what depended on it)."""
    active_account(session, account_id)
    if kind not in consent.KINDS:
        raise Invalid("unknown_consent", f"{kind}: 没有这种授权")
    if kind in ACCOUNT_CONSENTS:
        # Without these there is no account to serve: withdrawing them is cancelling it (policy §六, 注销权).
        raise Conflict("needs_cancellation", "这项授权是账号的前提；不再同意请注销账号")
    count = consent.withdraw(session, kind=kind, account_id=account_id, scope=scope)
    track(
        session,
        account_id=account_id,
        kind="withdrawal",
        channel=channel,
        completed=True,
        detail=f"{kind}:{scope}" if scope else kind,
        handled_by=actor,
    )
    return count
