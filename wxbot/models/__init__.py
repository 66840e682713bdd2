"""The tables, one module per concern; importing this package registers all of them on Base.metadata."""

from wxbot.models.applications import Application, StatusChange
from wxbot.models.identity import Account, Identity
from wxbot.models.inbound import InboundMessage
from wxbot.models.ledger import AuditEntry, Consent
from wxbot.models.outbox import AppPause, DailyCount, Notification, SubscribeGrant
from wxbot.models.reply_window import ReplyWindow

__all__ = [
    "Account",
    "AppPause",
    "Application",
    "AuditEntry",
    "Consent",
    "DailyCount",
    "Identity",
    "InboundMessage",
    "Notification",
    "ReplyWindow",
    "StatusChange",
    "SubscribeGrant",
]
