"""The access-token rule with several workers sharing one cache (Redis on the production backend).

Each worker is its own WeChatApi, as in separate processes; what they share is the cache. The sandbox's record
of token calls is the evidence.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import OA
from wxbot.wechat.api import WeChatApi
from wxbot.wechat.errors import WeChatError

WORKERS = 8
USER_INFO = "/cgi-bin/user/info"


def token_fetches(sandbox) -> int:
    return len(sandbox.calls("/cgi-bin/stable_token")) + len(sandbox.calls("/cgi-bin/token"))


def tokens_used(sandbox) -> set[str]:
    return {c.params["access_token"] for c in sandbox.calls(USER_INFO)}


def all_at_once(workers, action):
    """Run action(worker) in every worker at the same moment; returns the results (re-raises)."""
    barrier = threading.Barrier(len(workers))

    def run(worker):
        barrier.wait()
        return action(worker)

    with ThreadPoolExecutor(len(workers)) as pool:
        return list(pool.map(run, workers))


def hold_calls(monkeypatch, sandbox, hold):
    """Run hold(n) in the sandbox when the n-th call to user/info (counted from 1) arrives, before it is
    answered: a test decides when a call is answered instead of hoping a thread runs in time."""
    take, lock, arrivals = sandbox.take_injection, threading.Lock(), itertools.count(1)

    def take_after_hold(path):
        if path == USER_INFO:
            with lock:
                n = next(arrivals)
            hold(n)
        return take(path)

    monkeypatch.setattr(sandbox, "take_injection", take_after_hold)


@pytest.fixture(params=["stable", "classic"])
def token_mode(request, config_dict):
    config_dict["wechat"]["token_mode"] = request.param
    return request.param


@pytest.fixture
def workers(token_mode, settings, services, sandbox):
    sandbox.set_follower(OA["appid"], "oa-1")
    return [WeChatApi(settings, services.cache, services.wechat.tokens.vault) for _ in range(WORKERS)]


def test_stable_mode_uses_stable_token_and_classic_mode_the_token_endpoint(workers, sandbox, token_mode):
    workers[0].user_info("oa", "oa-1")
    if token_mode == "stable":
        (call,) = sandbox.calls("/cgi-bin/stable_token")
        assert call.appid == OA["appid"]
        assert call.body == {"grant_type": "client_credential", "appid": OA["appid"], "secret": OA["appsecret"],
                             "force_refresh": False}  # fmt: skip
        assert sandbox.calls("/cgi-bin/token") == []
    else:
        (call,) = sandbox.calls("/cgi-bin/token")
        assert call.params == {
            "grant_type": "client_credential",
            "appid": OA["appid"],
            "secret": OA["appsecret"],
        }
        assert sandbox.calls("/cgi-bin/stable_token") == []


def test_workers_share_one_token_and_refresh_it_once_per_expiry(workers, sandbox):
    # The store keeps the token 2 s (3 s less the margin of half its life): each burst below has 2 s to
    # read it, ample on a loaded machine, and the pause outlasts it.
    sandbox.token_lifetime = 3
    all_at_once(workers, lambda w: w.user_info("oa", "oa-1"))
    assert token_fetches(sandbox) == 1
    assert len(tokens_used(sandbox)) == 1

    time.sleep(2.2)
    all_at_once(workers, lambda w: w.user_info("oa", "oa-1"))
    assert token_fetches(sandbox) == 2
    assert len(tokens_used(sandbox)) == 2
    assert {c.errcode for c in sandbox.calls(USER_INFO)} == {0}


def test_a_token_error_seen_by_every_worker_at_once_refreshes_once(workers, sandbox, monkeypatch):
    workers[0].user_info("oa", "oa-1")
    sandbox.revoke_tokens(OA["appid"])
    # Every worker's first call is held until all of them are out, so none has seen a 40001 when it asks.
    everyone_out = threading.Barrier(WORKERS, timeout=60)
    hold_calls(monkeypatch, sandbox, lambda n: everyone_out.wait() if n <= WORKERS else None)

    answers = all_at_once(workers, lambda w: w.user_info("oa", "oa-1"))

    assert all(a["subscribe"] == 1 for a in answers)
    assert token_fetches(sandbox) == 2  # the first token, and one refresh
    calls = sandbox.calls(USER_INFO)
    assert len(calls) == 1 + 2 * WORKERS  # each worker retried exactly once
    assert sum(c.errcode == 40001 for c in calls) == WORKERS
    assert len(tokens_used(sandbox)) == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_each_token_error_refreshes_once_then_retries_once(workers, sandbox, errcode):
    worker = workers[0]
    worker.user_info("oa", "oa-1")
    sandbox.inject(USER_INFO, errcode=errcode, times=1)
    assert worker.user_info("oa", "oa-1")["subscribe"] == 1
    assert token_fetches(sandbox) == 2

    # Never a loop: when the retry fails too, the error comes out.
    sandbox.inject(USER_INFO, errcode=errcode, times=2)
    with pytest.raises(WeChatError) as info:
        worker.user_info("oa", "oa-1")
    assert info.value.errcode == errcode
    assert token_fetches(sandbox) == 3
    assert len(sandbox.calls(USER_INFO)) == 1 + 2 + 2


def test_an_expired_token_is_replaced_once(workers, sandbox):
    workers[0].user_info("oa", "oa-1")
    sandbox.expire_tokens(OA["appid"])  # WeChat answers 42001 before the store's own refresh time

    all_at_once(workers, lambda w: w.user_info("oa", "oa-1"))

    assert token_fetches(sandbox) == 2
    assert sum(c.errcode == 42001 for c in sandbox.calls(USER_INFO)) >= 1


def test_a_stale_tokens_failure_does_not_refresh_again(workers, sandbox, monkeypatch):
    slow, fast = workers[0], workers[1]
    slow.user_info("oa", "oa-1")
    first_token = tokens_used(sandbox).pop()
    # The slow worker's call, made with the first token, is answered late (42001: the token expired while it
    # waited); meanwhile another worker has replaced the token.
    arrived, replaced = threading.Event(), threading.Event()

    def answer_late(n):
        if n == 1:
            arrived.set()
            assert replaced.wait(60)

    hold_calls(monkeypatch, sandbox, answer_late)
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(slow.user_info, "oa", "oa-1")
        assert arrived.wait(60)
        sandbox.expire_tokens(OA["appid"])
        fast.create_qrcode("oa", "scene", 60)  # sees 42001, refreshes (its token is current)
        replaced.set()
        assert late.result()["subscribe"] == 1

    assert token_fetches(sandbox) == 2  # the first token and one refresh: the late failure caused none
    late_calls = [c for c in sandbox.calls(USER_INFO) if c.params["access_token"] == first_token]
    assert [c.errcode for c in late_calls] == [0, 42001]


@pytest.fixture
def wrong_secret(config_dict):
    config_dict["wechat"]["official"][0]["appsecret"] = "wrong"


def test_a_wrong_secret_is_a_wechat_error(wrong_secret, settings, services, sandbox):
    with pytest.raises(WeChatError) as info:
        WeChatApi(settings, services.cache, services.wechat.tokens.vault).user_info("oa", "oa-1")
    assert info.value.errcode == 40125
    assert sandbox.calls(USER_INFO) == []
