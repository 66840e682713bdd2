"""The tables, one module per concern; importing this package registers all of them on Base.metadata."""

from wxbot.models.binding import BindingToken
from wxbot.models.events import Event, EventSignup
from wxbot.models.identity import Account, Identity
from wxbot.models.inbound import InboundMessage
from wxbot.models.ledger import AuditEntry, Consent
from wxbot.models.login import LoginSession, SessionKey
from wxbot.models.privacy import PrivacyRequest, RetentionRun
from wxbot.models.reply_window import ReplyWindow

__all__ = [
    "Account",
    "AuditEntry",
    "BindingToken",
    "Consent",
    "Event",
    "EventSignup",
    "Identity",
    "InboundMessage",
    "LoginSession",
    "PrivacyRequest",
    "ReplyWindow",
    "RetentionRun",
    "SessionKey",
]
