"""The tables, one module per concern; importing this package registers all of them on Base.metadata."""

from wxbot.models.applications import Application, StatusChange
from wxbot.models.binding import BindingToken
from wxbot.models.campus import Event, EventSignup
from wxbot.models.codes import EventCode
from wxbot.models.conversations import Agent, CannedReply, Conversation, TicketMedia, TicketMessage
from wxbot.models.identity import Account, FollowerSync, Identity
from wxbot.models.inbound import InboundMessage
from wxbot.models.ledger import AuditEntry, Consent
from wxbot.models.login import LoginSession, SessionKey
from wxbot.models.outbox import ApiPause, AppHealth, DailyCount, Notification, SubscribeGrant
from wxbot.models.privacy import PrivacyRequest, RetentionRun
from wxbot.models.quota import PhoneQuota
from wxbot.models.tokens import AccessToken

__all__ = [
    "AccessToken",
    "Account",
    "Agent",
    "ApiPause",
    "AppHealth",
    "Application",
    "AuditEntry",
    "BindingToken",
    "CannedReply",
    "Consent",
    "Conversation",
    "DailyCount",
    "Event",
    "EventCode",
    "EventSignup",
    "FollowerSync",
    "Identity",
    "InboundMessage",
    "LoginSession",
    "PhoneQuota",
    "PrivacyRequest",
    "Notification",
    "RetentionRun",
    "SessionKey",
    "StatusChange",
    "SubscribeGrant",
    "TicketMedia",
    "TicketMessage",
]
