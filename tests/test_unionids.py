"""The unionid job: followers' unionids from user/info, and one account per unionid across the official
account and the mini program."""

from __future__ import annotations

from sqlalchemy import select

from jobs.unionid import fetch_unionids
from tests.mp_helpers import MiniProgramUser, fetch
from tests.wechat_helpers import Follower
from wxbot.models import AuditEntry, Identity

OA_APPID = "wxoa000000000001"


def follower_row(db, follower) -> Identity:
    (row,) = fetch(db, select(Identity).where(Identity.openid == follower.openid))
    return row


def test_follower_joins_the_account_of_the_mini_program_user_with_the_same_unionid(
    client, sandbox, db, services
):
    user = MiniProgramUser(client, sandbox, unionid="u-1")
    user.login()
    account = user.authorise_phone().get_json()["account"]
    follower = Follower(client)
    sandbox.set_follower(OA_APPID, follower.openid, unionid="u-1")
    follower.follow()
    assert follower_row(db, follower).account_id is None

    fetch_unionids(services)
    row = follower_row(db, follower)
    assert row.unionid == "u-1" and row.unionid_checked_at is not None and row.account_id is not None
    assert [i["kind"] for i in user.me()["identities"]] == ["miniprogram", "official"]
    assert user.me()["account"] == account
    (audit,) = fetch(db, select(AuditEntry).where(AuditEntry.subject_id == str(row.id)))
    assert audit.action == "identity.link" and "proof=unionid" in audit.detail
    calls = len(sandbox.calls("/cgi-bin/user/info"))
    fetch_unionids(services)  # checked once, not again until the next follow
    assert len(sandbox.calls("/cgi-bin/user/info")) == calls


def test_mini_program_login_after_the_job_finds_the_followers_account(client, sandbox, db, services):
    from tests.helpers import platform_post

    platform_post(client, "/platform/accounts", {"account_id": "p-1", "phone": "13800138000"})
    follower = Follower(client)
    sandbox.set_follower(OA_APPID, follower.openid, unionid="u-1")
    follower.follow()
    fetch_unionids(services)
    # the follower binds through the platform's QR code, then opens the mini program
    answer = platform_post(client, "/platform/bind-qr", {"account_id": "p-1"})
    assert answer.status_code == 200
    follower.scan(sandbox.calls("/cgi-bin/qrcode/create")[-1].body["action_info"]["scene"]["scene_str"])
    login = MiniProgramUser(client, sandbox, unionid="u-1").login().get_json()
    assert login["linked"] is True and login["account"]["platform_account_id"] == "p-1"
