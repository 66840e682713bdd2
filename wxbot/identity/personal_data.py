"""What the identity package holds about a person, declared for the rights registry: identities, logins,
session keys and binding tokens, and what is kept of followers who left."""

from __future__ import annotations

from wxbot.identity import followers, identities, logins
from wxbot.privacy.registry import DataDeclaration

PERSONAL_DATA = DataDeclaration(
    "identity",
    identities.export_account,
    identities.erase_account,
    retention=(logins.RETENTION, followers.RETENTION),
    export_identities=identities.export_identities,
    erase_identities=identities.erase_identities,
    label="微信身份与登录",
    erase_order=100,  # unlinks the identities the other modules find the account's data through
    tables=("login_sessions", "wxa_session_keys", "binding_tokens"),
)
