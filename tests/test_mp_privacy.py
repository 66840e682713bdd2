"""The users' rights in the mini program, through the JSON API (answers checked against the OpenAPI document)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from tests.mp_helpers import assert_error, bearer, row_counts
from tests.openapi_check import openapi_checked  # noqa: F401  (fixture)
from tests.privacy_helpers import make_person
from wxbot.identity import logins
from wxbot.models import Account, Identity
from wxbot.privacy import registry as rights

pytestmark = pytest.mark.usefixtures("openapi_checked")


def _login(db, identity):
    token, _ = logins.start(db, identity, ttl_seconds=30 * 86400)
    db.commit()
    return bearer(token)


@pytest.fixture
def user(db, services):
    account, follower, mp_user = make_person(db, services)
    headers = _login(db, mp_user)
    db.rollback()
    return account, headers


@pytest.fixture
def conversations_module(monkeypatch):
    """Stands in for the 留言 module's registration (deletions={"conversations": ...})."""
    store = {}

    def delete(session, account_id):
        return store.pop(account_id, 0)

    def correct(session, account_id, fields):
        if fields.get("school", "").strip() == "":
            raise rights.InvalidCorrection("school", "学校不能为空")
        return sorted(fields)

    # Stands in for the real one while the test runs; setitem keeps its place in the registry (the order
    # erasures run in) and puts the real one back afterwards.
    assert rights.module("tickets") is not None
    stand_in = rights.DataDeclaration("tickets", export=lambda s, a: [], erase=lambda s, a: {}, label="tickets",
                                 deletions={"conversations": delete}, correctable=("school",), correct=correct)  # fmt: skip
    monkeypatch.setitem(rights.declared(), "tickets", stand_in)
    return store


def test_export(client, user):
    account, headers = user
    answer = client.get("/mp/mp/me/export", headers=headers)
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["account"]["phone"] == "138****5678"
    assert {"identity", "inbound_messages"} <= set(data["modules"])
    assert "13812345678" not in answer.get_data(as_text=True)


def test_export_needs_a_login(client):
    assert_error(client.get("/mp/mp/me/export"), 401, "invalid_token")


def test_exports_are_rate_limited(client, user):
    _, headers = user
    for _ in range(10):
        assert client.get("/mp/mp/me/export", headers=headers).status_code == 200
    assert_error(client.get("/mp/mp/me/export", headers=headers), 429, "rate_limited")


def test_consents_are_listed_and_withdrawn_at_once(client, user):
    _, headers = user
    before = client.get("/mp/mp/me/consents", headers=headers).get_json()["consents"]
    assert {c["kind"] for c in before if c["withdrawn_at"] is None} >= {"status_reminders", "phone"}
    after = client.delete("/mp/mp/me/consents/status_reminders", headers=headers).get_json()["consents"]
    assert [c["withdrawn_at"] is not None for c in after if c["kind"] == "status_reminders"] == [True]
    assert_error(client.delete("/mp/mp/me/consents/everything", headers=headers), 400, "unknown_consent")
    for kind in ("privacy_policy", "phone"):  # the account rests on these: withdrawing them is cancelling
        assert_error(client.delete(f"/mp/mp/me/consents/{kind}", headers=headers), 409, "needs_cancellation")
    kinds = [
        r["kind"] for r in client.get("/mp/mp/me/privacy-requests", headers=headers).get_json()["requests"]
    ]
    assert kinds == ["withdrawal"]


def test_conversations_are_deleted_through_the_registered_module(client, user, conversations_module):
    account, headers = user
    conversations_module[account.id] = 2
    assert client.delete("/mp/mp/me/conversations", headers=headers).get_json() == {"deleted": 2}
    assert "conversations" in client.get("/mp/mp/me/profile", headers=headers).get_json()["deletable"]
    assert_error(client.delete("/mp/mp/me/data/everything", headers=headers), 404, "unknown_data")


def test_corrections(client, db, user, conversations_module):
    _, headers = user
    assert client.get("/mp/mp/me/profile", headers=headers).get_json()["correctable"]["tickets"] == ["school"]
    answer = client.patch(
        "/mp/mp/me/profile", json={"changes": {"tickets": {"school": "清华大学"}}}, headers=headers
    )
    assert answer.get_json() == {"changed": {"tickets": ["school"]}}
    before = row_counts(db)
    assert_error(client.patch("/mp/mp/me/profile", json={"changes": {"tickets": {"school": " "}}}, headers=headers),
                 400, "invalid_field", field="school")  # fmt: skip
    assert_error(client.patch("/mp/mp/me/profile", json={"changes": {"tickets": {"phone": "1"}}}, headers=headers),
                 400, "unknown_field")  # fmt: skip
    assert_error(
        client.patch("/mp/mp/me/profile", json={"changes": "all"}, headers=headers), 400, "invalid_field"
    )
    assert_error(client.patch("/mp/mp/me/profile", data="nope", headers=headers), 400, "invalid_json")
    assert row_counts(db) == before  # refusals write nothing
    staff = client.post(
        "/mp/mp/me/correction-requests", json={"message": "毕业年份应为2025"}, headers=headers
    )
    assert staff.status_code == 202 and staff.get_json()["status"] == "pending"
    assert_error(client.post("/mp/mp/me/correction-requests", json={"message": "x" * 1001}, headers=headers),
                 400, "too_long")  # fmt: skip


def test_cancel_revoke_and_cancel_again_until_erased(client, db, services, clock, user):
    account, headers = user
    assert client.get("/mp/mp/me/cancel", headers=headers).get_json() == {"pending": None}
    started = client.post("/mp/mp/me/cancel", headers=headers)
    assert started.status_code == 202
    assert (
        client.get("/mp/mp/me/cancel", headers=headers).get_json()["pending"]["id"]
        == started.get_json()["pending"]["id"]
    )
    assert client.delete("/mp/mp/me/cancel", headers=headers).get_json()["revoked"]["status"] == "revoked"
    assert_error(client.delete("/mp/mp/me/cancel", headers=headers), 404, "no_cancellation")

    client.post("/mp/mp/me/cancel", headers=headers)
    clock.advance(days=services.settings.privacy.cancellation_review_days, seconds=-1)
    assert run_cancellations(services) == 0
    assert client.get("/mp/mp/me/export", headers=headers).status_code == 200  # nothing erased before
    clock.advance(seconds=1)
    assert run_cancellations(services) == 1
    assert_error(client.get("/mp/mp/me/export", headers=headers), 401, "invalid_token")  # logins went too
    db.expire_all()
    assert db.get(Account, account.id).status == "cancelled"
    assert (
        db.scalar(sa.select(sa.func.count()).select_from(Identity).where(Identity.account_id == account.id))
        == 0
    )
    db.rollback()
