"""Login tokens and the login_required guard, through the /mp API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.mp_helpers import assert_error, bearer
from tests.openapi_check import openapi_checked  # noqa: F401
from wxbot.identity import identities, logins
from wxbot.models import AuditEntry, LoginSession

pytestmark = pytest.mark.usefixtures("openapi_checked")

MP_APPID = "wxmp000000000001"


@pytest.fixture
def config_dict(config_dict):
    config_dict["wechat"]["miniprogram"].append(
        {"name": "mp2", "appid": "wxmp000000000002", "appsecret": "s2"}
    )
    config_dict["identity"] = {"login_ttl_seconds": 3600}
    return config_dict


def signed_in(db, *, appid=MP_APPID, app_name="mp", openid="o-mp-1", unionid=None, ttl=3600):
    """Arrange a logged-in mini-program user directly in the domain (login itself is tested with the sandbox)."""
    identity = identities.upsert_identity(
        db, app_name=app_name, appid=appid, kind="miniprogram", openid=openid, unionid=unionid
    )
    token, _ = logins.start(db, identity, ttl_seconds=ttl)
    db.commit()
    return identity, token


def test_unknown_miniprogram_is_404_with_the_error_shape(client):
    assert_error(client.get("/mp/nope/me"), 404, "unknown_miniprogram")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        bearer("x" * 129),
        bearer("not-a-token"),
    ],
)
def test_missing_or_unknown_token_is_401(client, headers):
    assert_error(client.get("/mp/mp/me", headers=headers), 401, "invalid_token")


def test_token_gives_the_identity(client, db):
    _, token = signed_in(db)
    me = client.get("/mp/mp/me", headers=bearer(token)).get_json()
    assert me == {
        "linked": False,
        "account": None,
        "identities": [{"app": "mp", "kind": "miniprogram", "current": True, "subscribed": None}],
        "preferences": None,
    }


def test_token_is_stored_only_as_a_hash(client, db):
    _, token = signed_in(db)
    stored = db.scalars(select(LoginSession.token_hash)).all()
    assert stored == [logins.hash_token(token)] and token not in stored


def test_token_expires(client, db, clock):
    _, token = signed_in(db, ttl=3600)
    clock.advance(seconds=3599)
    assert client.get("/mp/mp/me", headers=bearer(token)).status_code == 200
    clock.advance(seconds=1)
    assert_error(client.get("/mp/mp/me", headers=bearer(token)), 401, "invalid_token")


def test_logout_revokes_that_token_only(client, db):
    _, first = signed_in(db)
    _, second = signed_in(db)
    assert client.post("/mp/mp/logout", headers=bearer(first)).get_json() == {"logged_out": True}
    assert_error(client.get("/mp/mp/me", headers=bearer(first)), 401, "invalid_token")
    assert_error(client.post("/mp/mp/logout", headers=bearer(first)), 401, "invalid_token")
    assert client.get("/mp/mp/me", headers=bearer(second)).status_code == 200


def test_token_of_another_miniprogram_is_refused(client, db):
    _, token = signed_in(db, appid="wxmp000000000002", app_name="mp2")
    assert client.get("/mp/mp2/me", headers=bearer(token)).status_code == 200
    assert_error(client.get("/mp/mp/me", headers=bearer(token)), 401, "invalid_token")


def test_unlink_takes_the_unionid_group_along_and_is_audited(client, db, services):
    identity, token = signed_in(db, unionid="u-1")
    follower = identities.upsert_identity(
        db, app_name="oa", appid="wxoa000000000001", kind="official", openid="o-oa-1", unionid="u-1"
    )
    account, _ = identities.upsert_platform_account(db, services.pii, "p-1", "13800138000")
    identities.link(db, identity, account, proof="phone", actor="test")
    db.commit()
    me = client.get("/mp/mp/me", headers=bearer(token)).get_json()
    assert me["linked"] and me["account"] == {"platform_account_id": "p-1", "phone": "138****8000"}
    assert {(i["app"], i["current"]) for i in me["identities"]} == {("mp", True), ("oa", False)}

    after = client.delete("/mp/mp/me/link", headers=bearer(token)).get_json()
    assert after["linked"] is False and after["account"] is None
    db.expire_all()
    assert identity.account_id is None and follower.account_id is None
    unlinks = db.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == "identity.unlink")).all()
    assert sorted(unlinks) == sorted([str(identity.id), str(follower.id)])
