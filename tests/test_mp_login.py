"""Mini-program login and phone authorisation, against the sandbox WeChat."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from tests.helpers import platform_post
from tests.mp_helpers import (
    MP_APPID,
    PHONE,
    MiniProgramUser,
    assert_error,
    bearer,
    encrypt_user_data,
    fetch,
    new_session_key,
    row_counts,
)
from tests.openapi_check import openapi_checked  # noqa: F401
from wxbot.models import AuditEntry, Consent, Identity, LoginSession, SessionKey
from wxbot.privacy import consent

pytestmark = pytest.mark.usefixtures("openapi_checked")


@pytest.fixture
def config_dict(config_dict):
    config_dict["identity"] = {"phone_lookups_per_identity_per_day": 3, "phone_lookups_per_app_per_day": 5}
    return config_dict


@pytest.fixture
def user(client, sandbox):
    return MiniProgramUser(client, sandbox)


def identity_of(db, openid) -> Identity:
    (found,) = fetch(db, select(Identity).where(Identity.openid == openid))
    return found


# ---------------------------------------------------------------- login


def test_login_without_unionid(user, db, sandbox):
    answer = user.login()
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["expires_in"] == 7 * 24 * 3600 and body["linked"] is False and body["account"] is None
    identity = identity_of(db, "o-mp-1")
    assert (identity.kind, identity.app_name, identity.unionid) == ("miniprogram", "mp", None)
    assert user.me()["identities"] == [
        {"app": "mp", "kind": "miniprogram", "current": True, "subscribed": None}
    ]
    # code2Session needs no access token, so none was fetched
    assert [c.path for c in sandbox.calls()] == ["/sns/jscode2session"]


def test_login_with_unionid_keeps_it(client, sandbox, db):
    MiniProgramUser(client, sandbox, unionid="u-1").login()
    assert identity_of(db, "o-mp-1").unionid == "u-1"


def test_session_key_stays_on_the_server_encrypted_and_out_of_logs(user, db, caplog):
    caplog.set_level(logging.DEBUG)
    answer = user.login()
    assert user.session_key not in answer.get_data(as_text=True)
    stored = db.execute(text("SELECT session_key_enc FROM wxa_session_keys")).scalar_one()
    db.rollback()
    assert user.session_key not in stored
    assert user.session_key not in caplog.text


def test_each_login_is_a_new_token(user):
    user.login()
    first = user.token
    user.login()
    assert user.token != first
    assert user.client.get("/mp/mp/me", headers=bearer(first)).status_code == 200


@pytest.mark.parametrize("used", [False, True])
def test_invalid_or_used_code_is_400_invalid_code(user, client, db, used):
    if used:
        user.login()
        code = user.openid + "-code-1"
        errcode = 40163
    else:
        code, errcode = "never-issued", 40029
    before = row_counts(db)
    error = assert_error(client.post("/mp/mp/login", json={"code": code}), 400, "invalid_code", "code")
    assert error["errcode"] == errcode
    assert row_counts(db) == before


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [(45011, 429, "rate_limited"), (40226, 502, "wechat_error"), (-1, 502, "wechat_error")],
)
def test_wechat_refusals(user, sandbox, db, errcode, status, code):
    sandbox.inject("/sns/jscode2session", errcode=errcode, times=None)
    before = row_counts(db)
    assert assert_error(user.login(), status, code)["errcode"] == errcode
    assert row_counts(db) == before


def test_wechat_down_is_502(user, sandbox):
    sandbox.inject("/sns/jscode2session", http_status=503, times=None)
    assert_error(user.login(), 502, "wechat_unavailable")


# ---------------------------------------------------------------- phone, current flow


def test_phone_links_to_the_platform_account_and_records_consent(user, client, db):
    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": PHONE})
    user.login()
    me = user.authorise_phone().get_json()
    assert me["linked"] is True
    assert me["account"] == {"platform_account_id": "p-1", "phone": "138****8000"}
    assert me["preferences"] == {"reminders": "all"}
    identity = identity_of(db, "o-mp-1")
    row = db.scalars(select(Consent).where(Consent.kind == "phone")).one()
    assert (row.identity_id, row.account_id, row.policy_version, row.channel) == (
        identity.id, identity.account_id, consent.POLICY_VERSION, "miniprogram")  # fmt: skip
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "identity.link")).one()
    assert (
        audit.subject_id == str(identity.id) and "proof=phone" in audit.detail and PHONE not in audit.detail
    )
    db.rollback()


def test_phone_of_no_account_creates_one(user, db, services):
    user.login()
    me = user.authorise_phone("13912345678").get_json()
    assert me["account"] == {"platform_account_id": None, "phone": "139****5678"}
    raw = db.execute(text("SELECT phone_enc, phone_hash FROM accounts")).one()
    db.rollback()
    assert "13912345678" not in raw.phone_enc + raw.phone_hash


def test_phone_needs_consent_and_spends_nothing_without_it(user, sandbox, db):
    user.login()
    before = row_counts(db)
    assert_error(user.post("/mp/mp/phone", {"code": "x"}), 400, "consent_required", "consent")
    assert_error(
        user.post("/mp/mp/phone", {"code": "x", "consent": "yes"}), 400, "consent_required", "consent"
    )
    assert row_counts(db) == before
    assert sandbox.calls("/wxa/business/getuserphonenumber") == []


def test_phone_code_invalid_is_400(user, db):
    user.login()
    before = row_counts(db)
    error = assert_error(
        user.post("/mp/mp/phone", {"code": "never-issued", "consent": True}), 400, "invalid_code"
    )
    assert error["errcode"] == 40029
    assert row_counts(db) == before


def test_phone_outside_mainland_is_refused(user, sandbox, db):
    user.login()
    sandbox.add_phone_code(MP_APPID, "hk", "+85261234567", country_code="852")
    before = row_counts(db)
    assert_error(user.post("/mp/mp/phone", {"code": "hk", "consent": True}), 400, "unsupported_phone")
    # nothing linked or stored about the user; the verification WeChat charged for is counted
    assert row_counts(db) == {**before, "phone_quotas": 1}


def test_phone_needs_a_login(client):
    assert_error(client.post("/mp/mp/phone", json={"code": "x", "consent": True}), 401, "invalid_token")


def test_proving_another_phone_moves_the_user_and_is_audited(user, client, db):
    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": PHONE})
    platform_post(client, "/platform/accounts", {"account_id": "p-2", "phone": "13900139000"})
    user.login()
    user.authorise_phone(PHONE)
    moved = user.authorise_phone("13900139000", change_phone=True)
    assert moved.get_json()["account"]["platform_account_id"] == "p-2"
    (move,) = fetch(db, select(AuditEntry).where(AuditEntry.action == "identity.move"))
    assert "proof=phone" in move.detail


# ---------------------------------------------------------------- phone, legacy encryptedData flow


def test_legacy_flow_links_with_the_latest_session_key(user, client):
    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": PHONE})
    user.login()
    answer = user.authorise_phone_legacy()
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["account"]["platform_account_id"] == "p-1"


def test_legacy_flow_with_a_stale_session_key_is_409(user, db):
    user.login()
    stale = user.session_key
    user.login()  # a newer wx.login replaces the session_key
    before = row_counts(db)
    assert_error(user.authorise_phone_legacy(session_key=stale), 409, "session_expired")
    assert row_counts(db) == before


def test_legacy_flow_for_another_app_is_refused(user, db):
    user.login()
    before = row_counts(db)
    assert_error(
        user.authorise_phone_legacy(appid="wxother0000000001"), 400, "invalid_field", "encrypted_data"
    )
    assert row_counts(db) == before


def test_legacy_flow_refuses_a_watermark_older_than_the_configured_age(user, db, services):
    from wxbot import clock

    platform_post(user.client, "/platform/accounts", {"account_id": "p-1", "phone": PHONE})
    user.login()
    day = services.settings.identity.watermark_max_age_seconds
    assert day == 24 * 3600  # the default
    before = row_counts(db)
    for issued in (clock.timestamp() - day - 1, clock.timestamp() + 3600):  # 3 lookups a day here
        answer = user.authorise_phone_legacy(issued=issued)
        assert_error(answer, 400, "invalid_field", "encrypted_data")
        assert "too old" in answer.get_json()["error"]["message"]
    assert row_counts(db) == before
    assert user.authorise_phone_legacy(issued=clock.timestamp() - day + 60).status_code == 200


def test_legacy_flow_with_malformed_iv_names_it(user):
    user.login()
    answer = user.post("/mp/mp/phone", {"encrypted_data": "A" * 43 + "=", "iv": "AAAA", "consent": True})
    assert_error(answer, 400, "invalid_field", "iv")


# ---------------------------------------------------------------- rate limits


def test_phone_lookups_are_capped_per_user_per_day(user, sandbox, clock):
    user.login()
    for _ in range(3):
        assert user.authorise_phone(change_phone=True).status_code == 200
    assert_error(user.authorise_phone(change_phone=True), 429, "rate_limited")
    assert_error(user.post("/mp/mp/phone", {"encrypted_data": "AAAA", "iv": "AAAA", "consent": True,
                                            "change_phone": True}), 429, "rate_limited")  # fmt: skip
    assert len(sandbox.calls("/wxa/business/getuserphonenumber")) == 3
    clock.advance(days=1)
    user.login()  # the token lives 7 days, but a fresh login is what a client does the next day anyway
    assert user.authorise_phone(change_phone=True).status_code == 200


def test_phone_lookups_are_capped_per_app_per_day(client, sandbox):
    users = [MiniProgramUser(client, sandbox, openid=f"o-mp-{i}") for i in range(3)]
    statuses = []
    for u in users:
        u.login()
        statuses += [u.authorise_phone().status_code, u.authorise_phone(change_phone=True).status_code]
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert len(sandbox.calls("/wxa/business/getuserphonenumber")) == 5


# ---------------------------------------------------------------- one account per unionid


def test_mini_program_login_joins_the_account_of_a_linked_follower(client, sandbox, db, services):
    from wxbot.identity import identities

    follower = identities.upsert_identity(
        db, app_name="oa", appid="wxoa000000000001", kind="official", openid="o-oa-1", unionid="u-1"
    )
    account, _ = identities.upsert_platform_account(db, services.pii, "p-1", PHONE)
    identities.link(db, follower, account, proof="binding_token", actor="test")
    db.commit()
    answer = MiniProgramUser(client, sandbox, unionid="u-1").login().get_json()
    assert answer["linked"] is True and answer["account"]["platform_account_id"] == "p-1"
    (joined,) = fetch(db, select(AuditEntry).where(AuditEntry.detail.like("%proof=unionid%")))
    assert joined.subject_id == str(identity_of(db, "o-mp-1").id)


def test_phone_proof_links_every_identity_with_the_same_unionid(client, sandbox, db, services):
    from wxbot.identity import identities

    follower = identities.upsert_identity(
        db, app_name="oa", appid="wxoa000000000001", kind="official", openid="o-oa-1", unionid="u-1"
    )
    db.commit()
    user = MiniProgramUser(client, sandbox, unionid="u-1")
    user.login()
    me = user.authorise_phone().get_json()
    assert sorted((i["app"], i["kind"]) for i in me["identities"]) == [
        ("mp", "miniprogram"),
        ("oa", "official"),
    ]
    (follower,) = fetch(db, select(Identity).where(Identity.id == follower.id))
    assert follower.account_id == identity_of(db, "o-mp-1").account_id is not None


def test_a_new_user_logging_in_twice_at_once_gets_one_identity(app, sandbox, db):
    from concurrent.futures import ThreadPoolExecutor

    for i in range(4):
        sandbox.add_login_code(MP_APPID, f"same-user-{i}", "o-mp-1", f"{i:0>22}==", unionid="u-1")

    def login(i):
        return app.test_client().post("/mp/mp/login", json={"code": f"same-user-{i}"}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(login, range(4))) == [200] * 4
    assert len(fetch(db, select(Identity))) == 1
    assert len(fetch(db, select(SessionKey))) == 1 and len(fetch(db, select(LoginSession))) == 4


def test_legacy_flow_with_data_that_is_not_a_phone_number_is_400(user, db):
    user.login()
    iv = new_session_key()
    data = encrypt_user_data(user.session_key, iv, {"nickName": "x", "watermark": {"appid": MP_APPID}})
    before = row_counts(db)
    answer = user.post("/mp/mp/phone", {"encrypted_data": data, "iv": iv, "consent": True})
    assert_error(answer, 400, "invalid_field", "encrypted_data")
    assert row_counts(db) == before
