"""POST /platform/accounts: signed upserts of platform accounts, phone stored encrypted + keyed hash."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.helpers import platform_post
from tests.mp_helpers import assert_error, fetch, row_counts
from wxbot.identity import identities
from wxbot.models import Account

pytestmark = pytest.mark.usefixtures("platform_openapi_checked")


def test_creates_then_updates_an_account(client, db, services):
    created = platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "+86 138-0013-8000"})
    assert created.status_code == 201 and created.get_json() == {"account_id": "p-1", "created": True}
    account = identities.account_by_phone(db, services.pii, "13800138000")
    assert account is not None and account.platform_account_id == "p-1"
    db.rollback()

    updated = platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "13900139000"})
    assert updated.status_code == 200 and updated.get_json()["created"] is False
    db.expire_all()
    assert identities.account_by_phone(db, services.pii, "13800138000") is None
    assert identities.account_by_phone(db, services.pii, "13900139000").id == account.id


def test_phone_is_never_stored_in_clear(client, db):
    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"})
    raw = db.execute(text("SELECT phone_enc, phone_hash FROM accounts")).one()
    assert "13800138000" not in raw.phone_enc + raw.phone_hash


def test_adopts_the_account_a_phone_proof_created(client, db, services):
    identity = identities.upsert_identity(
        db, app_name="mp", appid="wxmp000000000001", kind="miniprogram", openid="o1"
    )
    account = identities.link_by_phone(db, services.pii, identity, "13800138000", actor="test")
    db.commit()
    answer = platform_post(client, "/platform/accounts", {"account_id": 42, "phone": "13800138000"})
    assert answer.status_code == 200
    db.expire_all()
    assert db.scalars(select(Account)).one().platform_account_id == "42"
    assert db.get(Account, account.id).platform_account_id == "42"


def test_phone_of_another_platform_account_is_409(client, db):
    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"})
    before = row_counts(db)
    assert_error(
        platform_post(client, "/platform/accounts", {"account_id": "p-2", "phone": "13800138000"}),
        409,
        "phone_taken",
    )
    assert row_counts(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "13800138000"}, "account_id"),
        ({"account_id": "", "phone": "13800138000"}, "account_id"),
        ({"account_id": "x" * 65, "phone": "13800138000"}, "account_id"),
        ({"account_id": True, "phone": "13800138000"}, "account_id"),
        ({"account_id": "p-1"}, "phone"),
        ({"account_id": "p-1", "phone": "12345"}, "phone"),
        ({"account_id": "p-1", "phone": 13800138000}, "phone"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, db, body, field):
    before = row_counts(db)
    assert_error(platform_post(client, "/platform/accounts", body), 400, "invalid_field", field)
    assert row_counts(db) == before


def test_unsigned_request_is_401(client):
    assert (
        client.post("/platform/accounts", json={"account_id": "p-1", "phone": "13800138000"}).status_code
        == 401
    )


def test_the_same_new_account_sent_at_once_is_stored_once_and_never_a_500(app, db):
    from concurrent.futures import ThreadPoolExecutor

    def send(_):
        return platform_post(
            app.test_client(), "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"}
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(r.status_code for r in pool.map(send, range(4)))
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}
    assert len(fetch(db, select(Account))) == 1
