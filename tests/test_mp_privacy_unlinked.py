"""The rights of a mini-program user who logged in but never linked an account (no phone authorised): the
export and the cancellation answer for their WeChat identities, through the JSON API (checked against the
OpenAPI document)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from jobs.unionid import fetch_unionids
from tests.conftest import OA
from tests.mp_helpers import MiniProgramUser, assert_error, bearer
from tests.openapi_check import openapi_checked  # noqa: F401  (fixture)
from tests.privacy_helpers import personal_leftovers
from tests.wechat_helpers import Follower
from wxbot.models import Identity
from wxbot.models.login import LoginSession, SessionKey

pytestmark = pytest.mark.usefixtures("openapi_checked")

UNIONID = "oUnionUnlinked00000000000001"


def _unlinked_person(client, sandbox, db, services):
    """A mini-program user without an account, and the same person following the official account."""
    user = MiniProgramUser(client, sandbox, openid="oMpUnlinked000000000000001", unionid=UNIONID)
    assert user.login().status_code == 200
    follower = Follower(client)
    sandbox.set_follower(OA["appid"], follower.openid, unionid=UNIONID)
    follower.follow()
    follower.send_text("留言")
    follower.send_text("请问还招实习生吗？")
    fetch_unionids(services)  # WeChat's unionid makes the follower the same person; no account to join
    identity_ids = list(db.scalars(sa.select(Identity.id).where(Identity.unionid == UNIONID)))
    assert db.scalar(sa.select(sa.func.count()).where(Identity.account_id.is_not(None))) == 0
    db.rollback()
    assert len(identity_ids) == 2
    return user, follower, identity_ids


def test_an_unlinked_user_exports_their_identities_logins_and_messages(client, sandbox, db, services):
    user, follower, _ = _unlinked_person(client, sandbox, db, services)
    answer = client.get("/mp/mp/me/export", headers=bearer(user.token))
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["account"] is None
    identity = data["modules"]["identity"]
    assert {i["openid"] for i in identity["identities"]} == {user.openid, follower.openid}
    assert [s["app"] for s in identity["login_sessions"]] == ["mp"]
    assert any(
        m["fields"].get("Content") == "请问还招实习生吗？" for m in data["modules"]["inbound_messages"]
    )
    assert any(m["text"] == "请问还招实习生吗？" for c in data["modules"]["tickets"] for m in c["messages"])
    assert "applications" not in data["modules"]  # nothing of an account's without one
    text = answer.get_data(as_text=True)
    assert user.session_key not in text and user.token not in text
    requests = client.get("/mp/mp/me/privacy-requests", headers=bearer(user.token)).get_json()["requests"]
    assert [(r["kind"], r["status"]) for r in requests] == [("export", "completed")]


def test_an_unlinked_user_cancels_and_nothing_personal_remains_after_the_review_period(
    client, sandbox, db, services, clock
):
    user, _, identity_ids = _unlinked_person(client, sandbox, db, services)
    started = client.post("/mp/mp/me/cancel", headers=bearer(user.token))
    assert started.status_code == 202
    assert started.get_json()["pending"]["kind"] == "cancellation"
    pending = client.get("/mp/mp/me/cancel", headers=bearer(user.token)).get_json()["pending"]
    assert pending["id"] == started.get_json()["pending"]["id"]

    clock.advance(days=services.settings.privacy.cancellation_review_days, seconds=-1)
    assert run_cancellations(services) == 0
    before = personal_leftovers(db, None, identity_ids)
    assert {"identities.openid", "identities.unionid", "inbound_messages.fields"} <= set(before)
    assert db.scalar(sa.select(sa.func.count()).select_from(SessionKey)) == 1
    db.rollback()

    clock.advance(seconds=1)
    assert run_cancellations(services) == 1
    assert personal_leftovers(db, None, identity_ids) == []
    assert db.scalar(sa.select(sa.func.count()).select_from(SessionKey)) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(LoginSession)) == 0
    openids = set(db.scalars(sa.select(Identity.openid)))
    db.rollback()
    assert not openids & {user.openid}
    assert_error(client.get("/mp/mp/me/export", headers=bearer(user.token)), 401, "invalid_token")


def test_an_unlinked_user_revokes_the_cancellation_and_keeps_their_data(client, sandbox, db, services, clock):
    user, _, identity_ids = _unlinked_person(client, sandbox, db, services)
    assert client.post("/mp/mp/me/cancel", headers=bearer(user.token)).status_code == 202
    revoked = client.delete("/mp/mp/me/cancel", headers=bearer(user.token))
    assert revoked.status_code == 200 and revoked.get_json()["revoked"]["status"] == "revoked"
    assert_error(client.delete("/mp/mp/me/cancel", headers=bearer(user.token)), 404, "no_cancellation")
    clock.advance(days=services.settings.privacy.cancellation_review_days)
    assert run_cancellations(services) == 0
    assert {"identities.openid", "inbound_messages.fields"} <= set(personal_leftovers(db, None, identity_ids))
    assert user.login().status_code == 200  # the first login has expired meanwhile
    exported = client.get("/mp/mp/me/export", headers=bearer(user.token)).get_json()
    assert user.openid in {i["openid"] for i in exported["modules"]["identity"]["identities"]}


def test_an_unlinked_user_asks_for_a_correction_and_deletes_their_conversations(
    client, sandbox, db, services
):
    user, follower, identity_ids = _unlinked_person(client, sandbox, db, services)
    auth = bearer(user.token)
    profile = client.get("/mp/mp/me/profile", headers=auth).get_json()
    assert profile == {"correctable": {}, "deletable": ["conversations"]}

    asked = client.post(
        "/mp/mp/me/correction-requests", json={"message": "我的微信昵称显示错了"}, headers=auth
    )
    assert asked.status_code == 202 and asked.get_json()["status"] == "pending"
    assert_error(
        client.post("/mp/mp/me/correction-requests", json={"message": " "}, headers=auth),
        400,
        "empty_message",
    )

    deleted = client.delete("/mp/mp/me/conversations", headers=auth)
    # the 留言 the same person left as a follower of the official account
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": 1}
    assert client.delete("/mp/mp/me/data/conversations", headers=auth).get_json() == {"deleted": 0}
    assert_error(client.delete("/mp/mp/me/data/applications", headers=auth), 404, "unknown_data")
    assert client.get("/mp/mp/me/export", headers=auth).get_json()["modules"]["tickets"] == []

    requests = client.get("/mp/mp/me/privacy-requests", headers=auth).get_json()["requests"]
    assert sorted((r["kind"], r["status"]) for r in requests) == [
        ("correction", "pending"),
        ("deletion", "completed"),
        ("deletion", "completed"),
        ("export", "completed"),
    ]
    assert_error(client.get("/mp/mp/me/consents", headers=auth), 403, "not_linked")  # an account's
