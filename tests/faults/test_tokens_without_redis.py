"""The access-token store with Redis down, on the suite's own MariaDB and Redis: a process keeps the token
it holds, and processes that need a token at once take the database's lock, so one of them fetches it and
the others find it (in classic mode every fetch of cgi-bin/token invalidates the previous token)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.conftest import OA, base_config
from wxbot.cache import RedisCache
from wxbot.config import settings_from_dict
from wxbot.db import make_session_factory
from wxbot.token_vault import DatabaseTokenVault
from wxbot.wechat import tokens
from wxbot.wechat.api import WeChatApi

pytestmark = pytest.mark.slow

USER_INFO = "/cgi-bin/user/info"
PROCESSES = 4


@pytest.fixture
def processes(private_mariadb, private_redis, sandbox, tmp_path):
    """PROCESSES WeChat clients as separate processes have them: each its own Redis connection and memo,
    sharing the database (classic tokens: a second fetch would invalidate the first)."""
    private_mariadb.empty_tables()
    raw = base_config(tmp_path)
    raw["wechat"]["api_base_url"] = sandbox.base_url
    raw["wechat"]["token_mode"] = "classic"
    settings = settings_from_dict(raw, env={})
    engine = sa.create_engine(private_mariadb.url, pool_size=PROCESSES)
    vault = DatabaseTokenVault(make_session_factory(engine))
    sandbox.set_follower(OA["appid"], "oa-1")
    yield [
        WeChatApi(settings, RedisCache(private_redis.url, "wxbot-faults:"), vault) for _ in range(PROCESSES)
    ]
    engine.dispose()


def fetches(sandbox) -> int:
    return len(sandbox.calls("/cgi-bin/token"))


def tokens_used(sandbox) -> set[str]:
    return {c.params["access_token"] for c in sandbox.calls(USER_INFO)}


def at_once(processes, action):
    barrier = threading.Barrier(len(processes))

    def run(process):
        barrier.wait()
        return action(process)

    with ThreadPoolExecutor(len(processes)) as pool:
        return list(pool.map(run, processes))


def test_processes_that_need_a_token_while_redis_is_down_fetch_it_once(processes, private_redis, sandbox):
    private_redis.kill()
    answers = at_once(processes, lambda p: p.user_info("oa", "oa-1"))
    assert [a["subscribe"] for a in answers] == [1] * PROCESSES
    assert fetches(sandbox) == 1 and len(tokens_used(sandbox)) == 1
    assert {c.errcode for c in sandbox.calls(USER_INFO)} == {0}

    # WeChat revokes the token: the first to see it refreshes under the lock, the others take its token
    sandbox.revoke_tokens(OA["appid"])
    answers = at_once(processes, lambda p: p.user_info("oa", "oa-1"))
    assert [a["subscribe"] for a in answers] == [1] * PROCESSES
    assert fetches(sandbox) == 2 and len(tokens_used(sandbox)) == 2


def test_a_process_keeps_the_token_it_holds_while_redis_is_down(
    processes, private_redis, sandbox, monkeypatch
):
    first, *others = processes
    first.user_info("oa", "oa-1")
    private_redis.kill()
    monkeypatch.setattr(tokens, "MEMO_SECONDS", 0.0)  # every call asks Redis first
    for _ in range(3):
        assert first.user_info("oa", "oa-1")["subscribe"] == 1
    for process in others:  # holding nothing, they read the database's copy
        assert process.user_info("oa", "oa-1")["subscribe"] == 1
    assert fetches(sandbox) == 1 and len(tokens_used(sandbox)) == 1
    private_redis.start()  # empty: the database's copy fills it, no fetch
    assert others[0].user_info("oa", "oa-1")["subscribe"] == 1
    assert fetches(sandbox) == 1
