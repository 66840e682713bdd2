"""The unionid job: followers' unionids learned through user/info/batchget (100 a call), a batch per run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobs import registered_jobs
from jobs.unionid import fetch_unionids
from tests.conftest import MP, OA
from wxbot import clock as clock_module
from wxbot.models.identity import Account, Identity
from wxbot.models.ledger import AuditEntry

USER_INFO = "/cgi-bin/user/info"
BATCHGET = "/cgi-bin/user/info/batchget"


def follower(db, openid, *, subscribed=True, kind="official", checked=False, unionid=None, account=None):
    app = OA if kind == "official" else MP
    identity = Identity(app_name=app["name"], appid=app["appid"], kind=kind, openid=openid, subscribed=subscribed,
                        subscribed_at=clock_module.now() if subscribed else None, unionid=unionid,
                        unionid_checked_at=clock_module.now() if checked else None, account=account)  # fmt: skip
    db.add(identity)
    db.commit()
    return identity


def reload(db, identity):
    """The row as stored now, detached; the read is ended (on SQLite an open transaction holds the write lock)."""
    db.expire_all()
    fresh = db.get(Identity, identity.id)
    db.commit()
    db.expunge(fresh)
    return fresh


def asked(sandbox) -> list[str]:
    """The openids WeChat was asked about, by batchget or one at a time."""
    found = []
    for call in sandbox.calls():
        if call.path == BATCHGET:
            found += [u["openid"] for u in call.body["user_list"]]
        elif call.path == USER_INFO:
            found.append(call.params["openid"])
    return found


def test_the_job_is_registered():
    assert "unionid" in {job.name for job in registered_jobs()}


def test_followers_get_their_unionid_once(services, db, sandbox, clock):
    with_union = follower(db, "oa-1")
    without_union = follower(db, "oa-2")
    sandbox.set_follower(OA["appid"], "oa-1", unionid="union-1")
    sandbox.set_follower(OA["appid"], "oa-2")

    fetch_unionids(services)

    first, second = reload(db, with_union), reload(db, without_union)
    assert (first.unionid, first.unionid_checked_at) == ("union-1", clock.current)
    assert (second.unionid, second.unionid_checked_at) == (None, clock.current)
    assert sorted(asked(sandbox)) == ["oa-1", "oa-2"]
    assert len(sandbox.calls(BATCHGET)) == 1 and not sandbox.calls(USER_INFO)  # one call for both

    fetch_unionids(services)
    assert len(asked(sandbox)) == 2  # checked followers are not asked again


def test_only_unchecked_official_followers_are_asked(services, db, sandbox):
    follower(db, "gone", subscribed=False)
    follower(db, "done", checked=True)
    follower(db, "mp-user", kind="miniprogram")
    follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1")

    fetch_unionids(services)

    assert asked(sandbox) == ["oa-1"]


def test_a_follower_wechat_says_has_left_is_marked_unsubscribed(services, db, sandbox, clock):
    identity = follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1", subscribed=False, unionid="union-1")

    fetch_unionids(services)

    identity = reload(db, identity)
    assert identity.subscribed is False and identity.unsubscribed_at == clock.current
    assert identity.unionid is None and identity.unionid_checked_at == clock.current


def test_an_openid_wechat_does_not_know_is_not_asked_again(services, db, sandbox, clock):
    identity = follower(db, "stranger")
    known = follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1", unionid="union-1")

    fetch_unionids(services)
    fetch_unionids(services)

    # the batch is refused for the stranger's sake, then each is asked alone: the other is learned
    assert [c.errcode for c in sandbox.calls(BATCHGET)] == [40003]
    assert [(c.params["openid"], c.errcode) for c in sandbox.calls(USER_INFO)] == [
        ("stranger", 40003),
        ("oa-1", 0),
    ]
    assert reload(db, identity).unionid_checked_at == clock.current
    assert reload(db, known).unionid == "union-1"


def test_a_burst_of_follows_is_asked_100_at_a_time(services, db, sandbox):
    for i in range(250):
        follower(db, f"oa-{i:03d}")
        sandbox.set_follower(OA["appid"], f"oa-{i:03d}", unionid=f"union-{i}")

    fetch_unionids(services, batch_size=250)

    assert [len(c.body["user_list"]) for c in sandbox.calls(BATCHGET)] == [100, 100, 50]
    assert db.scalars(select(Identity).where(Identity.unionid.is_(None))).all() == []


def test_a_busy_wechat_stops_the_run_and_the_next_run_resumes(services, db, sandbox):
    identities = [follower(db, f"oa-{i}") for i in range(3)]
    for i in range(3):
        sandbox.set_follower(OA["appid"], f"oa-{i}", unionid=f"union-{i}")
    sandbox.inject(BATCHGET, errcode=-1)

    fetch_unionids(services)
    assert len(sandbox.calls(BATCHGET)) == 1
    assert all(reload(db, i).unionid_checked_at is None for i in identities)

    fetch_unionids(services)
    assert [reload(db, i).unionid for i in identities] == ["union-0", "union-1", "union-2"]


def test_an_unreachable_wechat_stops_the_run(services, db, sandbox):
    identity = follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1", unionid="union-1")
    sandbox.inject(BATCHGET, http_status=502)

    fetch_unionids(services)

    assert reload(db, identity).unionid_checked_at is None


def test_each_run_asks_one_batch(services, db, sandbox):
    for i in range(8):
        follower(db, f"oa-{i}")
        sandbox.set_follower(OA["appid"], f"oa-{i}")

    fetch_unionids(services, batch_size=5)
    assert asked(sandbox) == [f"oa-{i}" for i in range(5)]  # the oldest first, in one call
    assert len(sandbox.calls(BATCHGET)) == 1
    fetch_unionids(services, batch_size=5)
    assert len(asked(sandbox)) == 8
    assert db.scalars(select(Identity).where(Identity.unionid_checked_at.is_(None))).all() == []


def test_the_unionid_links_the_follower_to_the_account_of_their_mini_program_identity(services, db, sandbox):
    account = Account(platform_account_id="p-1")
    db.add(account)
    db.commit()
    follower(db, "mp-1", kind="miniprogram", unionid="union-1", account=account)
    identity = follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1", unionid="union-1")

    fetch_unionids(services)

    assert reload(db, identity).account_id == account.id
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "identity.link")).all()
    assert entry.subject_id == str(identity.id) and "proof=unionid" in entry.detail


@pytest.mark.parametrize("answer_subscribed", [True, False])
def test_a_follow_change_while_asking_wins_over_the_answer(
    services, db, sandbox, clock, answer_subscribed, monkeypatch
):
    identity = follower(db, "oa-1")
    sandbox.set_follower(OA["appid"], "oa-1", subscribed=answer_subscribed, unionid="union-1")
    # While WeChat is being asked, the follower unfollows and follows again (a new subscribed_at).
    api = services.wechat
    ask = api.call

    def ask_while_refollowing(*args, **kwargs):
        clock.advance(seconds=5)
        with services.session_factory() as s:
            row = s.get(Identity, identity.id)
            row.subscribed_at = clock.current
            s.commit()
        return ask(*args, **kwargs)

    monkeypatch.setattr(api, "call", ask_while_refollowing)
    fetch_unionids(services)

    identity = reload(db, identity)
    assert identity.subscribed is True and identity.unionid_checked_at is None and identity.unionid is None
