"""What the privacy rules do with the inbound message log (wxbot.models.inbound): export it, erase it with
the account, forget it when the follower unsubscribes, and keep it [retention] inbound_messages_days."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from wxbot.models.identity import Identity
from wxbot.models.inbound import InboundMessage
from wxbot.privacy import registry as rights
from wxbot.privacy import retention
from wxbot.privacy.erasure import erase_rows
from wxbot.privacy.pii import mask_numbers

# The delivery fields that carry what the follower typed or said (voice recognition).
_TYPED_FIELDS = ("Content", "Recognition")


def storable_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """What the log keeps of a delivery: phone and ID numbers the follower typed are masked, so the
    database never holds them in clear (handlers still see the message as it came)."""
    return {
        key: mask_numbers(value) if key in _TYPED_FIELDS and isinstance(value, str) else value
        for key, value in fields.items()
    }


def _identities_of(account_id: int) -> Any:
    return select(Identity.id).where(Identity.account_id == account_id)


def export(session: Session, account_id: int) -> list[dict[str, Any]]:
    return export_identities(session, _identities_of(account_id))


def export_identities(session: Session, identity_ids: Any) -> list[dict[str, Any]]:
    """The messages of these identities (a list of ids, or a select of them)."""
    rows = session.scalars(
        select(InboundMessage).where(InboundMessage.identity_id.in_(identity_ids)).order_by(InboundMessage.id)
    )
    return [
        {
            "app": r.app_name,
            "type": r.msg_type,
            "event": r.event,
            "sent_at": r.sent_at.isoformat(),
            "fields": r.fields,
            "reply": r.reply,
        }
        for r in rows
    ]


def erase(session: Session, account_id: int) -> rights.Counts:
    return erase_identities(session, _identities_of(account_id))


def erase_identities(session: Session, identity_ids: Any) -> rights.Counts:
    windows = 0
    for kind in ("message", "action"):  # the reply windows' grants, kept on the identity rows
        expires = getattr(Identity, f"{kind}_window_expires_at")
        cleared = session.execute(
            update(Identity)
            .where(Identity.id.in_(identity_ids), expires.is_not(None))
            .values({expires: None, getattr(Identity, f"{kind}_window_remaining"): 0})
            .execution_options(synchronize_session=False)
        )
        windows += cleared.rowcount  # type: ignore[attr-defined]
    return {
        "inbound_messages": erase_rows(session, InboundMessage, InboundMessage.identity_id.in_(identity_ids)),
        "reply_windows": int(windows or 0),
    }


def forget_follower(session: Session, identity_id: int) -> rights.Counts:
    # The unsubscribe delivery itself stays until its retention period: it answers WeChat's retries of it.
    removed = session.execute(
        delete(InboundMessage).where(
            InboundMessage.identity_id == identity_id,
            or_(InboundMessage.event.is_(None), InboundMessage.event != "unsubscribe"),
        )
    ).rowcount  # type: ignore[attr-defined]
    return {"inbound_messages": int(removed or 0)}


def purge(session: Session, cutoff: datetime) -> retention.Purged:
    removed = session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff)).rowcount  # type: ignore[attr-defined]
    return retention.Purged(deleted=int(removed or 0))


PERSONAL_DATA = rights.DataDeclaration(
    "inbound_messages",
    export,
    erase,
    label="发给公众号的消息",
    tables=("inbound_messages",),
    forget_follower=forget_follower,
    export_identities=export_identities,
    erase_identities=erase_identities,
    retention=(
        retention.RetentionRule("inbound_messages", purge, "the raw inbound message log, from receipt"),
    ),
)
