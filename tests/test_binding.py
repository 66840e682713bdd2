"""Binding official-account followers to platform accounts: the platform's QR code (through signed callbacks)
and the 绑定 link redeemed in the mini program. Only with proof, once, before expiry."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.helpers import platform_post
from tests.mp_helpers import PHONE, MiniProgramUser, assert_error, fetch, row_counts
from tests.openapi_check import openapi_checked  # noqa: F401
from tests.wechat_helpers import Follower
from wxbot.models import Account, AuditEntry, BindingToken, Identity

pytestmark = pytest.mark.usefixtures("openapi_checked")

QR_PATH = "/cgi-bin/qrcode/create"


def follower_identity(db, follower) -> Identity | None:
    found = fetch(db, select(Identity).where(Identity.openid == follower.openid))
    return found[0] if found else None


def account_id_of(db, follower) -> int | None:
    identity = follower_identity(db, follower)
    return identity.account_id if identity else None


def binding_qr(client, sandbox, account_id="p-1") -> str:
    """Ask for the account's QR code as the platform does; returns the scene WeChat encoded in it."""
    answer = platform_post(client, "/platform/bind-qr", {"account_id": account_id})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["url"] and answer.get_json()["expires_in"] == 600
    return sandbox.calls(QR_PATH)[-1].body["action_info"]["scene"]["scene_str"]


@pytest.fixture
def platform_account(client, sandbox):
    assert (
        platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": PHONE}).status_code == 201
    )


def linked_account_db_id(db, platform_id):
    (account,) = fetch(db, select(Account).where(Account.platform_account_id == platform_id))
    return account.id


# ---------------------------------------------------------------- the platform's QR code


def test_scan_links_a_follower_once(client, sandbox, db, platform_account):
    scene = binding_qr(client, sandbox)
    body = sandbox.calls(QR_PATH)[-1].body
    assert body["action_name"] == "QR_STR_SCENE" and body["expire_seconds"] == 600
    follower = Follower(client)
    follower.follow()
    reply = follower.scan(scene)
    assert "绑定成功" in reply.content
    assert account_id_of(db, follower) == linked_account_db_id(db, "p-1")
    (audit,) = fetch(db, select(AuditEntry).where(AuditEntry.action == "identity.link"))
    assert "proof=binding_token" in audit.detail

    other = Follower(client)
    other.follow()
    assert "已被使用" in other.scan(scene).content
    assert account_id_of(db, other) is None


def test_following_through_the_qr_code_links_and_welcomes(client, sandbox, db, platform_account):
    scene = binding_qr(client, sandbox)
    follower = Follower(client)
    reply = follower.follow(scene=scene)
    assert "欢迎关注" in reply.content and "绑定成功" in reply.content
    assert account_id_of(db, follower) == linked_account_db_id(db, "p-1")


def test_expired_qr_code_links_nobody(client, sandbox, db, platform_account, clock):
    scene = binding_qr(client, sandbox)
    clock.advance(seconds=601)
    follower = Follower(client)
    assert "已过期" in follower.follow(scene=scene).content
    assert account_id_of(db, follower) is None
    (token,) = fetch(db, select(BindingToken))
    assert token.used_at is None


def test_follower_linked_elsewhere_is_refused(client, sandbox, db, platform_account):
    platform_post(client, "/platform/accounts", {"account_id": "p-2", "phone": "13900139000"})
    follower = Follower(client)
    follower.follow(scene=binding_qr(client, sandbox, "p-2"))
    scene = binding_qr(client, sandbox, "p-1")
    assert "另一个平台账号" in follower.scan(scene).content
    assert account_id_of(db, follower) == linked_account_db_id(db, "p-2")
    spent = fetch(db, select(BindingToken).where(BindingToken.used_at.is_not(None)))
    assert len(spent) == 1  # the refused code is still unspent


def test_a_scene_that_is_not_ours_gets_the_usual_welcome(client, sandbox, db):
    follower = Follower(client)
    assert "欢迎关注" in follower.follow(scene="bind_" + "x" * 32).content
    assert account_id_of(db, follower) is None


def test_bind_qr_for_an_unknown_account_is_404_and_asks_wechat_nothing(client, sandbox, db):
    before = row_counts(db)
    assert_error(platform_post(client, "/platform/bind-qr", {"account_id": "nobody"}), 404, "unknown_account")
    assert sandbox.calls(QR_PATH) == [] and row_counts(db) == before


def test_bind_qr_when_wechat_refuses_is_502_and_stores_nothing(client, sandbox, db, platform_account):
    sandbox.inject(QR_PATH, errcode=48001, times=None)
    before = row_counts(db)
    error = assert_error(
        platform_post(client, "/platform/bind-qr", {"account_id": "p-1"}), 502, "wechat_error"
    )
    assert error["errcode"] == 48001 and row_counts(db) == before


def test_bind_qr_names_a_bad_official_account(client, sandbox, platform_account):
    answer = platform_post(client, "/platform/bind-qr", {"account_id": "p-1", "official_account": "nope"})
    assert_error(answer, 400, "invalid_field", "official_account")


# ---------------------------------------------------------------- 绑定 in the chat, redeemed in the mini program


def link_token(reply) -> str:
    path = re.search(r'data-miniprogram-path="([^"]+)"', reply.content).group(1)
    return re.search(r"token=([A-Za-z0-9_-]+)", unescape(path)).group(1)


@pytest.fixture
def phone_linked_user(client, sandbox, platform_account):
    user = MiniProgramUser(client, sandbox)
    user.login()
    assert user.authorise_phone().status_code == 200
    return user


def test_bind_link_joins_the_follower_to_the_mini_program_users_account(client, db, phone_linked_user):
    follower = Follower(client)
    reply = follower.send_text("绑定")
    assert 'data-miniprogram-appid="wxmp000000000001"' in reply.content
    token = link_token(reply)
    me = phone_linked_user.post("/mp/mp/bind", {"token": token}).get_json()
    assert sorted(i["kind"] for i in me["identities"]) == ["miniprogram", "official"]
    assert account_id_of(db, follower) == linked_account_db_id(db, "p-1")
    assert "已绑定" in follower.send_text("绑定").content

    again = phone_linked_user.post("/mp/mp/bind", {"token": token})
    assert_error(again, 409, "used_token")


def test_bind_link_expires(client, db, phone_linked_user, clock):
    token = link_token(Follower(client).send_text("绑定"))
    clock.advance(seconds=601)
    phone_linked_user.login()  # the earlier login is still valid; a fresh one keeps the test about the link
    assert_error(phone_linked_user.post("/mp/mp/bind", {"token": token}), 409, "expired_token")


def test_bind_link_needs_a_phone_linked_user(client, sandbox, db):
    token = link_token(Follower(client).send_text("绑定"))
    stranger = MiniProgramUser(client, sandbox, openid="o-mp-9")
    stranger.login()
    before = row_counts(db)
    assert_error(stranger.post("/mp/mp/bind", {"token": token}), 403, "not_linked")
    assert row_counts(db) == before


def test_bind_link_of_another_wechat_user_is_refused(client, sandbox, db, platform_account):

    follower = Follower(client)
    token = link_token(follower.send_text("绑定"))
    db.get(
        Identity, follower_identity(db, follower).id
    ).unionid = "u-follower"  # as the unionid job learns it
    db.commit()
    user = MiniProgramUser(client, sandbox, unionid="u-someone-else")
    user.login()
    user.authorise_phone()
    assert_error(user.post("/mp/mp/bind", {"token": token}), 409, "different_person")
    assert account_id_of(db, follower) is None


def test_unknown_bind_token_is_409(phone_linked_user):
    assert_error(phone_linked_user.post("/mp/mp/bind", {"token": "A" * 32}), 409, "unknown_token")


# ---------------------------------------------------------------- never without proof


def test_a_typed_phone_number_links_nothing(client, sandbox, db, platform_account):
    user = MiniProgramUser(client, sandbox)
    user.login()
    before = row_counts(db)
    for body in ({"phone": PHONE, "consent": True}, {"phone_number": PHONE, "consent": True}):
        assert_error(user.post("/mp/mp/phone", body), 400, "invalid_field", "code")
    assert row_counts(db) == before
    assert user.me()["linked"] is False


def test_a_follower_with_the_platform_accounts_phone_is_not_linked_by_it(
    client, sandbox, db, platform_account
):
    follower = Follower(client)
    follower.send_text(PHONE)
    assert account_id_of(db, follower) is None


def test_bind_link_of_a_follower_linked_elsewhere_is_refused(client, sandbox, db, phone_linked_user):
    platform_post(client, "/platform/accounts", {"account_id": "p-2", "phone": "13900139000"})
    follower = Follower(client)
    follower.follow(scene=binding_qr(client, sandbox, "p-2"))
    (identity,) = fetch(db, select(Identity).where(Identity.openid == follower.openid))
    # 绑定 answers "already linked" to a linked follower, so the token comes from an earlier request
    from wxbot.identity import binding

    token = binding.issue_follower_link(db, db.get(Identity, identity.id), ttl_seconds=600)
    db.commit()
    assert_error(phone_linked_user.post("/mp/mp/bind", {"token": token}), 409, "already_linked")
    assert account_id_of(db, follower) == linked_account_db_id(db, "p-2")


def test_bind_link_carries_a_web_link_where_configured(client, services):
    services.settings.identity.bind_web_url = "https://jobs.example.com/bind?from=oa"
    reply = Follower(client).send_text("绑定")
    href = unescape(re.search(r'href="([^"]+)"', reply.content).group(1))
    assert href.startswith("https://jobs.example.com/bind?from=oa&token=")
    assert href.rsplit("token=", 1)[1] == link_token(reply)


def test_bind_without_a_mini_program_or_web_page_says_so(client, services, db):
    services.settings.wechat.miniprogram = []
    before = row_counts(db)
    reply = Follower(client).send_text("绑定")
    assert "暂时无法" in reply.content
    assert row_counts(db)["binding_tokens"] == before["binding_tokens"]
