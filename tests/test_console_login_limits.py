"""The console's login limits, with a moved clock: only failures count; a guessed username is locked for at most
15 minutes, the rest of the office behind the same address is not."""

from __future__ import annotations

from tests.console_helpers import PASSWORD, make_agent
from tests.console_helpers import login as login_form

WRONG = "wrong password!!"


def login(client, username: str, password: str = PASSWORD):
    """A login from a browser without a session (each agent at their own desk)."""
    client.delete_cookie("wxbot_console", path="/console")
    return login_form(client, username, password)


def refused_for(response) -> int:
    """How long (seconds) a refused login is told to wait."""
    assert response.status_code == 429
    assert "分钟后再试" in response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def test_successful_logins_from_one_address_never_lock_anyone(client, db, clock):
    make_agent(db, "alice")
    make_agent(db, "bob")
    for i in range(25):  # an office behind one NAT, logging in all morning
        assert login(client, "alice" if i % 2 else "bob").status_code == 302
        clock.advance(minutes=1)
    assert login(client, "alice").status_code == 302


def test_five_wrong_guesses_lock_only_that_username_and_for_at_most_15_minutes(client, db, clock):
    make_agent(db, "alice")
    make_agent(db, "bob")
    for _ in range(4):
        assert login(client, "alice", WRONG).status_code == 401
    fifth = login(client, "alice", WRONG)
    assert fifth.status_code == 401 and "请 1 分钟后再试" in fifth.get_data(as_text=True)
    assert refused_for(login(client, "alice")) == 60  # the right password too, while locked
    assert login(client, "bob").status_code == 302  # a colleague at the same address

    waits = []
    for _ in range(6):  # a guesser who waits out every lock: the delay grows, never past 15 minutes
        waits.append(refused_for(login(client, "alice", WRONG)))
        clock.advance(seconds=waits[-1])
        assert login(client, "alice", WRONG).status_code == 401
    assert waits == [60, 120, 240, 480, 900, 900]
    clock.advance(seconds=899)
    refused_for(login(client, "alice"))
    clock.advance(seconds=1)
    assert login(client, "alice").status_code == 302


def test_a_success_resets_the_count(client, db, clock):
    make_agent(db, "alice")
    for _ in range(4):
        assert login(client, "alice", WRONG).status_code == 401
    assert login(client, "alice").status_code == 302
    for _ in range(4):  # four more: still under the limit, the earlier four are forgotten
        assert login(client, "alice", WRONG).status_code == 401
    assert login(client, "alice").status_code == 302


def test_failures_from_one_address_stop_at_the_address_limit_for_its_window(config_dict, request, clock):
    config_dict["console"] = {"login_failures_per_address": 12}
    client, db = request.getfixturevalue("client"), request.getfixturevalue("db")
    make_agent(db, "alice")
    clock.set(clock.current.replace(minute=0, second=0))  # the start of a 15-minute window
    for i in range(12):  # a sweep over usernames: no single one reaches its own limit
        assert login(client, f"guess{i}", WRONG).status_code == 401
    refused = login(client, "alice")
    assert refused_for(refused) == 15 * 60 and "此网络" in refused.get_data(as_text=True)
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    assert login(client, "alice").status_code == 302  # another address
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    clock.advance(minutes=15)
    assert login(client, "alice").status_code == 302


def test_without_the_shared_cache_logins_fail_closed_with_a_503(config_dict, request):
    config_dict["redis"]["url"] = "redis://127.0.0.1:1/0"  # nothing listens there
    client, db = request.getfixturevalue("client"), request.getfixturevalue("db")
    make_agent(db, "alice")
    response = login(client, "alice")
    assert response.status_code == 503
    assert "登录服务暂时不可用" in response.get_data(as_text=True)
