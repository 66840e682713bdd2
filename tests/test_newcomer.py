"""The laptop setup's traps, closed: `wxbot serve` (and so `make run`) says what to open next; the sandbox's
and console's URLs follow --bind; CLI commands run from any directory find the checkout's database or say
what they looked for; a restarted sandbox still knows the followers the database has."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import wxbot.checkout
from tests.conftest import base_config
from tests.test_serve import Execs
from wxbot import clock, create_app
from wxbot.cli import main
from wxbot.config import load_settings, settings_from_dict
from wxbot.migrate import upgrade
from wxbot.models import Identity

DEV = {"WXBOT_APP_ENVIRONMENT": "development"}


@pytest.fixture
def execs(monkeypatch) -> Execs:
    calls = Execs()
    monkeypatch.setattr(os, "execvpe", calls)
    return calls


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A checkout of its own (its var/ empty), and a working directory elsewhere, with no config file."""
    root = tmp_path / "checkout"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(wxbot.checkout, "CHECKOUT", root)
    monkeypatch.chdir(elsewhere)
    for name in [k for k in os.environ if k.startswith("WXBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WXBOT_APP_ENVIRONMENT", "development")
    return root


def test_the_installed_package_knows_its_checkout():
    assert Path(__file__).resolve().parent.parent == wxbot.checkout.CHECKOUT


def test_serve_says_what_to_open_and_how_to_create_an_agent(checkout, execs):
    result = CliRunner().invoke(main, ["serve", "--bind", "127.0.0.1:8001"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8001/sandbox" in result.stderr
    assert "http://127.0.0.1:8001/console" in result.stderr
    assert (
        "WXBOT_APP_ENVIRONMENT=development .venv/bin/wxbot agents create alice --role admin" in result.stderr
    )


def test_the_sandbox_and_console_urls_follow_the_bind(checkout, execs):
    assert CliRunner().invoke(main, ["serve", "--bind", "127.0.0.1:8001"]).exit_code == 0
    (env,) = execs.environments
    assert env["WXBOT_SANDBOX_PUBLIC_URL"] == env["WXBOT_CONSOLE_PUBLIC_URL"] == "http://127.0.0.1:8001"
    served = load_settings(env={**DEV, "WXBOT_SANDBOX_PUBLIC_URL": env["WXBOT_SANDBOX_PUBLIC_URL"],
                                "WXBOT_CONSOLE_PUBLIC_URL": env["WXBOT_CONSOLE_PUBLIC_URL"]})  # fmt: skip
    assert served.wechat.api_base_url == "http://127.0.0.1:8001/sandbox/wechat"  # the sandbox's callbacks too
    assert served.console.public_url == "http://127.0.0.1:8001"


def test_urls_someone_chose_stay_and_the_default_port_changes_nothing(tmp_path, execs):
    raw = base_config(tmp_path)
    raw["sandbox"] = {"enabled": True, "public_url": "http://127.0.0.1:9000"}
    raw["console"] = {"public_url": "https://console.example.com", "secure_cookie": False}
    settings = settings_from_dict(raw, env={})
    assert CliRunner().invoke(main, ["serve", "--bind", "127.0.0.1:8001"], obj=settings).exit_code == 0
    assert (
        CliRunner().invoke(main, ["serve"], obj=settings_from_dict(base_config(tmp_path), env={})).exit_code
        == 0
    )
    assert not any(
        k in env
        for env in execs.environments
        for k in ("WXBOT_SANDBOX_PUBLIC_URL", "WXBOT_CONSOLE_PUBLIC_URL")
    )


def test_a_command_run_outside_the_checkout_says_what_it_looked_for_and_creates_nothing(checkout):
    result = CliRunner().invoke(
        main, ["agents", "create", "alice", "--password-stdin"], input="a-long-password-1\n"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"no database at {checkout / 'var' / 'wxbot.db'}" in result.output and "make run" in result.output
    assert not (checkout / "var" / "wxbot.db").exists() and not Path("var").exists()


def test_a_command_run_outside_the_checkout_finds_the_checkouts_database(checkout):
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    assert (checkout / "var" / "wxbot.db").exists() and not Path("var").exists()
    result = CliRunner().invoke(main, ["agents", "create", "alice", "--role", "admin", "--password-stdin"],
                                input="a-long-password-1\n")  # fmt: skip
    assert result.exit_code == 0 and "created admin alice" in result.output


def test_a_database_without_its_tables_is_said_so(checkout):
    (checkout / "var").mkdir()
    (checkout / "var" / "wxbot.db").touch()
    result = CliRunner().invoke(
        main, ["agents", "create", "alice", "--password-stdin"], input="a-long-password-1\n"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not migrated" in result.output and "wxbot db upgrade" in result.output


def test_a_restarted_sandbox_knows_the_databases_followers_and_their_windows(tmp_path):
    url = f"sqlite:///{tmp_path}/wxbot.db"
    upgrade(url)
    raw = base_config(tmp_path)
    raw["database"]["url"] = url
    raw["sandbox"] = {"enabled": True}
    raw["console"] = {"secure_cookie": False}
    settings = settings_from_dict(raw, env={})
    oa = settings.wechat.official[0]
    first = create_app(settings).extensions["wxbot"]
    with first.session_factory() as session:
        follower = Identity(app_name=oa.name, appid=oa.appid, kind="official", openid="oRESTORED0000000000000000001",
                            unionid="union-restored", subscribed=True,
                            message_window_expires_at=clock.now() + timedelta(hours=47),
                            message_window_remaining=5)  # fmt: skip
        gone = Identity(app_name=oa.name, appid=oa.appid, kind="official", openid="oGONE000000000000000000000001",
                        subscribed=False)  # fmt: skip
        session.add_all([follower, gone])
        session.commit()
    first.engine.dispose()

    restarted = create_app(settings).extensions["wxbot"].sandbox  # a new process: the sandbox's memory is new
    known = restarted.follower(oa.appid, "oRESTORED0000000000000000001")
    assert known is not None and known.subscribed and known.unionid == "union-restored"
    assert not restarted.follower(oa.appid, "oGONE000000000000000000000001").subscribed
    body = {"touser": "oRESTORED0000000000000000001", "msgtype": "text", "text": {"content": "你好"}}
    assert restarted.send_custom(oa.appid, body)["errcode"] == 0  # not 40003, not a closed window
    assert clock.now() < known.grants[0].expires_at
