"""Cancellation end to end, through the public surfaces: the platform's account and status pushes, a
mini-program user who logs in and authorises the phone number, a follower with the same unionid who talks
to the official account. After the review period, every table is checked generically: no row that still
points at the person keeps a personal value, whichever module wrote it."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.cancellations import run_cancellations
from jobs.unionid import fetch_unionids
from tests.conftest import OA
from tests.helpers import platform_post
from tests.mp_helpers import PHONE, MiniProgramUser, bearer
from tests.privacy_helpers import personal_leftovers
from tests.wechat_helpers import Follower
from wxbot.models import Account, Identity

UNIONID = "oUnionScenario0000000000001"


def test_cancellation_erases_every_module_after_the_review_period_and_nothing_before(
    client, sandbox, db, services, clock
):
    assert (
        platform_post(client, "/platform/accounts", {"account_id": "acc-1", "phone": PHONE}).status_code
        == 201
    )
    user = MiniProgramUser(client, sandbox, openid="oMpScenario00000000000000001", unionid=UNIONID)
    assert user.login().status_code == 200
    assert user.authorise_phone().status_code == 200
    status = {"event_id": "e1", "account_id": "acc-1", "application_id": "a1", "job_title": "数据分析师",
              "company": "示例科技", "status": "interview", "changed_at": "2026-11-20T10:00:00+08:00"}  # fmt: skip
    assert platform_post(client, "/platform/applications/status", status).status_code == 200
    follower = Follower(client)
    sandbox.set_follower(
        OA["appid"], follower.openid, unionid=UNIONID
    )  # the same person on the official account
    follower.follow()
    follower.send_text("请问面试地点在哪里？")
    fetch_unionids(services)  # the job asks WeChat for the unionid, which links the follower to the account
    db.rollback()
    account_id = db.scalar(sa.select(Account.id).where(Account.platform_account_id == "acc-1"))
    identity_ids = list(db.scalars(sa.select(Identity.id).where(Identity.account_id == account_id)))
    db.rollback()
    assert len(identity_ids) == 2, "the mini-program user (phone) and the follower (unionid) are linked"

    assert client.post("/mp/mp/me/cancel", headers=bearer(user.token)).status_code == 202
    clock.advance(days=services.settings.privacy.cancellation_review_days, seconds=-1)
    assert run_cancellations(services) == 0
    before = personal_leftovers(db, account_id, identity_ids)
    # nothing erased yet, in any module
    assert {
        "accounts.phone_enc",
        "identities.openid",
        "inbound_messages.fields",
        "applications.company",
        "notifications.content",
        "wxa_session_keys.session_key_enc",
    } <= set(before)

    clock.advance(seconds=1)
    assert run_cancellations(services) == 1
    assert personal_leftovers(db, account_id, identity_ids) == []
    assert client.get("/mp/mp/me", headers=bearer(user.token)).status_code == 401
