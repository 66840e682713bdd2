"""Every module that holds personal data, in one list: the rights registry (wxbot.privacy.registry) is
built from it. A new module with personal data adds its DataDeclaration here; a test checks that every
table with a personal column is claimed by one of them."""

from __future__ import annotations

from wxbot.applications import status_changes
from wxbot.campus import personal_data as campus_data
from wxbot.conversations import personal_data as conversation_data
from wxbot.identity import personal_data as identity_data
from wxbot.privacy import message_log
from wxbot.privacy.registry import DataDeclaration
from wxbot.push import personal_data as push_data

DECLARATIONS: tuple[DataDeclaration, ...] = (
    identity_data.PERSONAL_DATA,
    message_log.PERSONAL_DATA,
    status_changes.PERSONAL_DATA,
    push_data.PERSONAL_DATA,
    conversation_data.PERSONAL_DATA,
    campus_data.PERSONAL_DATA,
)
