"""Fixtures: every test that uses `app` runs on the embedded backend (SQLite + in-process cache) and, when
WXBOT_TEST_DATABASE_URL and WXBOT_TEST_REDIS_URL are set (CI sets them), on MariaDB + Redis too."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

import wxbot.models  # noqa: F401
from wxbot import clock as clock_module
from wxbot import create_app
from wxbot.config import Settings, settings_from_dict
from wxbot.db import Base

# Property tests assert behaviour, not speed: on a loaded CI machine an example may take longer than
# hypothesis's default 200 ms deadline, and a missed deadline is not a failure of the code.
hypothesis_settings.register_profile("wxbot", deadline=None)
hypothesis_settings.load_profile("wxbot")

pytest_plugins = ("tests.browser_helpers",)  # the console in Chromium: browser, live_url, page

MARIADB_URL = os.environ.get("WXBOT_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("WXBOT_TEST_REDIS_URL", "")
BACKENDS = ["embedded"] + (["production"] if MARIADB_URL and REDIS_URL else [])

# Fixed test keys and apps (never used outside tests).
PII_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
HASH_KEY = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
PLATFORM_SECRET = "platform-test-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA = {"name": "oa", "appid": "wxoa000000000001", "appsecret": "oa-secret", "token": "oatoken",
      "encoding_aes_key": AES_KEY, "original_id": "gh_oa0000000001"}  # fmt: skip
MP = {"name": "mp", "appid": "wxmp000000000001", "appsecret": "mp-secret"}


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A database of its own for this test run (so parallel runs don't meet), tables created once."""
    if not MARIADB_URL:
        pytest.skip("WXBOT_TEST_DATABASE_URL not set")
    server = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    name = f"wxbot_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    except sa.exc.OperationalError as exc:
        pytest.exit(f"MariaDB at WXBOT_TEST_DATABASE_URL is unreachable: {exc}", returncode=3)
    base, _, query = MARIADB_URL.partition("?")
    url = f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}"
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with server.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    server.dispose()


def _empty_tables(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in reversed(Base.metadata.sorted_tables):
            conn.exec_driver_sql(f"DELETE FROM {table.name}")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def base_config(tmp_path: Any) -> dict[str, Any]:
    """Development: the fixed test secrets above are short, and production would refuse them."""
    return {
        "app": {
            "environment": "development",
            "secret_key": "test-secret-key",
            "var_dir": str(tmp_path / "var"),
        },
        "database": {"url": f"sqlite:///{tmp_path}/wxbot.db"},
        "redis": {"url": "", "prefix": f"wxbot-test:{uuid.uuid4().hex[:8]}:"},
        "wechat": {"api_base_url": "http://127.0.0.1:9", "official": [dict(OA)], "miniprogram": [dict(MP)]},
        "scheduler": {"embedded": False},
        "platform": {"secret": PLATFORM_SECRET},
        "security": {"pii_keys": [PII_KEY], "hash_key": HASH_KEY},
    }


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    """The sandbox WeChat on a free loopback port, for the whole session (threaded, like WeChat)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from wxbot.sandbox import SandboxState, create_sandbox_app

    state = SandboxState()
    state.add_app(OA["appid"], OA["appsecret"], "official")
    state.add_app(MP["appid"], MP["appsecret"], "miniprogram")

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # the state's record is the log

    server = make_server(
        "127.0.0.1", 0, create_sandbox_app(state), threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="sandbox-wechat", daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def sandbox(sandbox_server: Any) -> Any:
    """The sandbox WeChat, emptied for this test. A test that uses it gets `wechat.api_base_url` pointed at it."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def config_dict(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The raw settings of this test; tests and fixtures may change it before `settings` is built."""
    raw = base_config(tmp_path)
    if "sandbox" in request.fixturenames:
        raw["wechat"]["api_base_url"] = request.getfixturevalue("sandbox").base_url
    if backend == "production":
        url = request.getfixturevalue("mariadb_url")
        _empty_tables(url)
        raw["database"]["url"] = url
        raw["redis"]["url"] = REDIS_URL
    return raw


@pytest.fixture
def plain_app(config_dict: dict[str, Any]) -> None:
    """A second official account without an EncodingAESKey: plaintext mode."""
    config_dict["wechat"]["official"].append(
        {
            "name": "plain",
            "appid": "wxplain000000001",
            "appsecret": "s",
            "token": "plaintoken",
            "original_id": "gh_plain0000001",
        }  # fmt: skip
    )


@pytest.fixture
def settings(config_dict: dict[str, Any]) -> Settings:
    return settings_from_dict(config_dict, env={})


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    app = create_app(settings)
    app.config["TESTING"] = True
    services = app.extensions["wxbot"]
    if services.engine.dialect.name == "sqlite":
        Base.metadata.create_all(services.engine)
    yield app
    services.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def services(app: Any) -> Any:
    return app.extensions["wxbot"]


@pytest.fixture
def db(services: Any) -> Iterator[Any]:
    """A session for arranging and checking data directly."""
    session = services.session_factory()
    yield session
    session.close()


@pytest.fixture
def clock() -> Iterator[clock_module.FrozenClock]:
    frozen = clock_module.FrozenClock().install()
    yield frozen
    clock_module.FrozenClock.uninstall()
