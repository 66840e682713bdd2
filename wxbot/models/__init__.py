"""The tables, one module per concern; importing this package registers all of them on Base.metadata."""

from wxbot.models.identity import Account, Identity
from wxbot.models.ledger import AuditEntry, Consent
from wxbot.models.tickets import Agent, CannedReply, Conversation, TicketMessage

__all__ = [
    "Account",
    "Agent",
    "AuditEntry",
    "CannedReply",
    "Consent",
    "Conversation",
    "Identity",
    "TicketMessage",
]
