"""One way for the domain to say what went wrong: a `DomainError` of one of a few kinds.

    raise NotFound("event_not_found", "没有这个活动", event_id=external_id)

`code` is stable (clients and tests match on it), `message` is for people, `details` travel with it into
the JSON error body. Domain code raises these and knows nothing of HTTP: each edge maps the kinds in one
place (wxbot.web for /mp and /platform, the console's notices, the handlers' polite replies).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a stable code, a message for people and details for the caller."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class Invalid(DomainError):
    """The input is wrong; details name the field(s)."""


class NotFound(DomainError):
    """What the request names does not exist (or is not the caller's to see)."""


class Conflict(DomainError):
    """The request clashes with the current state (already done, taken, changed meanwhile)."""


class Refused(DomainError):
    """Allowed in general, not for this caller or in this state (no consent, not linked, too young)."""


class Gone(DomainError):
    """It existed and is over (a closed sign-up, a past event)."""


class Unavailable(DomainError):
    """A dependency (WeChat, the quota) cannot serve now; trying later may work."""
