"""POST /platform/accounts: the platform tells us its accounts, so phone proofs find them."""

from __future__ import annotations

from typing import Any

from wxbot.identity import identities
from wxbot.platform import bp
from wxbot.web import abort_api, db, json_body, services

MAX_ACCOUNT_ID = 64


def platform_account_id(body: dict[str, Any]) -> str:
    """`account_id`: the platform's id of the account, a string (or an integer) of at most 64 characters."""
    value = body.get("account_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_ACCOUNT_ID
        or not value.isprintable()
    ):
        abort_api(
            400,
            "invalid_field",
            f"account_id must be a string of 1-{MAX_ACCOUNT_ID} characters",
            field="account_id",
        )
    return value.strip()


@bp.post("/accounts")
def upsert_account() -> tuple[dict[str, Any], int]:
    body = json_body()
    account_id = platform_account_id(body)
    phone = body.get("phone")
    if not isinstance(phone, str) or len(phone) > 32:
        abort_api(400, "invalid_field", "phone must be a string", field="phone")
    session = db()
    try:
        account, created = identities.upsert_platform_account(session, services().pii, account_id, phone)
    except ValueError:
        abort_api(400, "invalid_field", "phone must be a mainland China mobile number", field="phone")
    session.commit()
    return {"account_id": account.platform_account_id, "created": created}, 201 if created else 200
