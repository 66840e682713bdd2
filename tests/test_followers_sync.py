"""`wxbot followers sync`: followers from before wxbot back-filled from the sandbox WeChat's follower list
(user/get, 10,000 a page; user/info/batchget, 100 a call), resumable where a run stopped."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import OA
from wxbot.cli import main as cli
from wxbot.identity import backfill
from wxbot.models.identity import FollowerSync, Identity

USER_GET = "/cgi-bin/user/get"
BATCHGET = "/cgi-bin/user/info/batchget"


def run(settings, *args):
    return CliRunner().invoke(cli, ["followers", "sync", *args], obj=settings)


def count(db, *where):
    found = db.scalar(select(func.count()).select_from(Identity).where(Identity.appid == OA["appid"], *where))
    db.commit()
    return found


def test_followers_from_before_wxbot_get_identities_and_unionids(settings, services, db, sandbox, clock):
    silent = sandbox.official.add_silent_followers(OA["appid"], 10_150)
    # someone wxbot knows already (unionid asked), and someone it thinks left but who follows again
    db.add(Identity(app_name="oa", appid=OA["appid"], kind="official", openid=silent[0], subscribed=True,
                    subscribed_at=clock.current, unionid="uSILENT000000000000", unionid_checked_at=clock.current))  # fmt: skip
    db.add(Identity(app_name="oa", appid=OA["appid"], kind="official", openid=silent[1], subscribed=False,
                    unsubscribed_at=clock.current))  # fmt: skip
    db.commit()
    sandbox.set_follower(
        OA["appid"], "o-writes-sometimes", unionid="u-writer"
    )  # a follower the sandbox knows

    done = run(settings, "--app", "oa")

    assert done.exit_code == 0, done.output
    assert (
        "oa: 10151 followers listed of 10151, 10149 identities created, 10150 unionids learned, 0 no longer "
        "following; 105 calls to WeChat in" in done.output
    )
    # two pages and the empty one that ends the list; 10,150 asked (not the one known) in calls of at most 100
    pages = sandbox.calls(USER_GET)
    assert [c.params.get("next_openid", "") for c in pages] == ["", silent[9_999], "o-writes-sometimes"]
    sizes = [len(c.body["user_list"]) for c in sandbox.calls(BATCHGET)]
    assert sum(sizes) == 10_150 and max(sizes) == 100 and len(sizes) == 102
    assert silent[0] not in {u["openid"] for c in sandbox.calls(BATCHGET) for u in c.body["user_list"]}
    assert count(db) == 10_151 and count(db, Identity.subscribed.is_(True)) == 10_151
    assert (
        count(db, Identity.unionid.is_(None)) == 0 and count(db, Identity.unionid_checked_at.is_(None)) == 0
    )
    writer = db.scalars(select(Identity).where(Identity.openid == "o-writes-sometimes")).one()
    assert writer.unionid == "u-writer" and writer.subscribed_at is not None
    db.commit()
    sync_row = db.get(FollowerSync, "oa")
    assert (sync_row.listed, sync_row.calls, sync_row.finished_at) == (10_151, 105, clock.current)
    db.commit()

    # a second run walks the list again but asks nobody: every follower is known
    again = run(settings, "--app", "oa")
    assert "0 identities created, 0 unionids learned" in again.output and len(sandbox.calls(BATCHGET)) == 102


def test_a_stopped_run_resumes_at_the_page_it_was_on(settings, services, db, sandbox):
    silent = sandbox.official.add_silent_followers(OA["appid"], 10_050)

    def stop_after_the_first_page(progress):
        if progress.listed == 10_000:
            sandbox.inject(USER_GET, errcode=-1)  # WeChat busy for the next page

    with pytest.raises(Exception, match="wechat error -1"):
        backfill.sync(
            services.session_factory, services.wechat, "oa", rate=1000, progress=stop_after_the_first_page
        )
    assert count(db) == 10_000 and len(sandbox.calls(BATCHGET)) == 100

    resumed = run(settings)
    assert resumed.exit_code == 0, resumed.output
    assert (
        "oa (resumed): 10050 followers listed of 10050, 10050 identities created, 10050 unionids learned"
        in resumed.output
    )
    # on from page 2: one batchget for its 50 followers, none of page 1 asked again
    assert [c.params.get("next_openid") for c in sandbox.calls(USER_GET)[-2:]] == [silent[9_999], silent[-1]]
    assert len(sandbox.calls(BATCHGET)) == 101 and count(db, Identity.unionid.is_(None)) == 0


def test_a_failure_says_how_to_go_on(settings, services, sandbox):
    sandbox.official.add_silent_followers(OA["appid"], 5)
    sandbox.inject(BATCHGET, errcode=45009)
    failed = run(settings)
    assert failed.exit_code == 1
    assert "WeChat answered 45009" in failed.output and "run `wxbot followers sync` again" in failed.output


def test_followers_who_left_between_the_list_and_the_question_are_marked(services, db, sandbox, monkeypatch):
    sandbox.set_follower(OA["appid"], "o-stays", unionid="u-stays")
    sandbox.set_follower(OA["appid"], "o-leaves", unionid="u-leaves")
    real = backfill.official.users_info

    def leaves_meanwhile(api, app_name, openids):
        sandbox.set_follower(OA["appid"], "o-leaves", subscribed=False)
        return real(api, app_name, openids)

    monkeypatch.setattr(backfill.official, "users_info", leaves_meanwhile)
    done = backfill.sync(services.session_factory, services.wechat, "oa", rate=1000)
    assert (done.created, done.unionids, done.left) == (2, 1, 1)
    gone = db.scalars(select(Identity).where(Identity.openid == "o-leaves")).one()
    assert gone.subscribed is False and gone.unsubscribed_at is not None and gone.unionid is None


def test_the_sandbox_follower_list_answers_as_wechat(services, sandbox):
    from wxbot.wechat import errors, official
    from wxbot.wechat.errors import WeChatError

    assert official.followers(services.wechat, "oa") == official.FollowerPage(
        total=0, openids=[], next_openid=""
    )
    with pytest.raises(WeChatError) as refused:
        services.wechat.call("oa", "official", "POST", BATCHGET, body={"user_list": [{"openid": "o"}] * 101})
    assert refused.value.errcode == errors.OPENID_LIST_INVALID
    with pytest.raises(WeChatError) as refused:
        official.users_info(services.wechat, "oa", ["never-followed"])
    assert refused.value.errcode == errors.OPENID_UNKNOWN


def test_the_pacer_spaces_calls_by_the_rate(monkeypatch):
    """No timing: a fake monotonic clock that the pacer's sleeps move."""
    now = [100.0]
    slept = []
    monkeypatch.setattr(backfill.time, "monotonic", lambda: now[0])

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr(backfill.time, "sleep", sleep)
    pacer = backfill.Pacer(rate=4)
    starts = []
    for work in (0.0, 0.1, 0.5, 0.0):
        pacer.wait()
        starts.append(round(now[0], 6))
        now[0] += work  # the call itself
    assert starts == [100.0, 100.25, 100.5, 101.0]  # at most 4 a second; a slow call is not made up for
    assert slept == [0.25, 0.15]
