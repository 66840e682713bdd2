"""The unionid job: followers' unionids from user/info, and one account per unionid across the official
account and the mini program."""

from __future__ import annotations

from sqlalchemy import select

from jobs import registered_jobs
from jobs.unionids import fetch_unionids
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

    assert fetch_unionids(services) == 1
    row = follower_row(db, follower)
    assert row.unionid == "u-1" and row.unionid_checked_at is not None and row.account_id is not None
    assert [i["kind"] for i in user.me()["identities"]] == ["miniprogram", "official"]
    assert user.me()["account"] == account
    (audit,) = fetch(db, select(AuditEntry).where(AuditEntry.subject_id == str(row.id)))
    assert audit.action == "identity.link" and "proof=unionid" in audit.detail
    assert fetch_unionids(services) == 0  # checked once, not again until the next follow


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


def test_follower_without_unionid_is_checked_and_stays_unlinked(client, sandbox, db, services):
    follower = Follower(client)
    sandbox.set_follower(OA_APPID, follower.openid)
    follower.follow()
    assert fetch_unionids(services) == 1
    row = follower_row(db, follower)
    assert row.unionid is None and row.unionid_checked_at is not None and row.account_id is None
    assert row.subscribed is True


def test_wechat_refusing_leaves_followers_for_the_next_run(client, sandbox, db, services):
    follower = Follower(client)
    sandbox.set_follower(OA_APPID, follower.openid)
    follower.follow()
    sandbox.inject("/cgi-bin/user/info", errcode=45009)
    assert fetch_unionids(services) == 0
    assert follower_row(db, follower).unionid_checked_at is None
    assert fetch_unionids(services) == 1


def test_a_follower_wechat_says_left_is_marked_unsubscribed(client, sandbox, db, services):
    follower = Follower(client)
    sandbox.set_follower(OA_APPID, follower.openid)
    follower.follow()
    sandbox.set_follower(OA_APPID, follower.openid, subscribed=False)
    fetch_unionids(services)
    assert follower_row(db, follower).subscribed is False


def test_the_job_is_registered():
    assert "unionids" in {job.name for job in registered_jobs()}
