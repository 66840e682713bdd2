"""The fault suite's own MariaDB and Redis: processes started here on free loopback ports, in a temporary
directory, so they can be killed and restarted without touching the shared services on 3306 and 6379.
Skipped with the reason when the server binaries are not installed."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis
import sqlalchemy as sa

import wxbot.models  # noqa: F401
from tests.conftest import base_config
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.db import Base

SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name, path=SBIN)
        if found:
            return found
    pytest.skip(f"{' or '.join(names)} is not installed: the fault suite needs its own server processes")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(ready: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except Exception:  # not up yet
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not start within {seconds:g} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class PrivateMariaDB:
    """A mariadbd that a test may kill (SIGKILL, as a crash) and start again on the same port and datadir."""

    port: int
    datadir: Path
    command: list[str]
    database: str = "wxbot_faults"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{self.database}?charset=utf8mb4"

    def start(self) -> None:
        with open(self.datadir / "server.log", "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.datadir / 'server.log').read_text()[-2000:]}")
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
            return True

        _wait_until(ready, "mariadbd", seconds=60)

    def kill(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGKILL)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def empty_tables(self) -> None:
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            for table in reversed(Base.metadata.sorted_tables):
                conn.exec_driver_sql(f"DELETE FROM {table.name}")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        engine.dispose()


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A MariaDB of the suite's own: a fresh datadir, root without a password, loopback only."""
    mariadbd = _binary("mariadbd", "mysqld")
    install_db = _binary("mariadb-install-db", "mysql_install_db")
    datadir = tmp_path_factory.mktemp("mariadb")
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install_db, "--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db",
         f"--datadir={datadir}", *user],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    command = [
        mariadbd, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
        f"--socket={datadir}/mariadb.sock", f"--pid-file={datadir}/mariadb.pid", "--skip-grant-tables",
        "--skip-log-bin", "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2",
        "--max-connections=500", *user,
    ]  # fmt: skip
    server = PrivateMariaDB(port, datadir, command)
    try:
        server.start()
        connection = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE {server.database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        connection.close()
        engine = sa.create_engine(server.url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


@dataclass
class PrivateRedis:
    """A redis-server that a test may kill (SIGKILL, as a crash) and start again, on the same port."""

    binary: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        _wait_until(lambda: client.ping(), "redis-server", seconds=15)
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGKILL)
            self.process = None

    def hang(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nothing answers (a Redis stuck or swapped out)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(_binary("redis-server"), tmp_path)
    server.start()
    yield server
    server.kill()


class WsgiServer:
    """wxbot in a real multi-threaded WSGI server (werkzeug's, a thread per request) on a free port."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass  # the test counts the answers itself

        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="wxbot-wsgi", daemon=True)

    def __enter__(self) -> WsgiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def production_app(
    private_mariadb: PrivateMariaDB, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[Any]:
    """The application configured as in production (MariaDB + Redis), on the suite's own servers."""
    private_mariadb.empty_tables()
    raw = base_config(tmp_path)
    raw["database"]["url"] = private_mariadb.url
    raw["redis"]["url"] = private_redis.url
    raw["redis"]["breaker_reset_seconds"] = 0.2  # Redis is asked again soon after it comes back
    app = create_app(settings_from_dict(raw, env={}))
    yield app
    app.extensions["wxbot"].engine.dispose()


@pytest.fixture
def server(production_app: Any) -> Iterator[WsgiServer]:
    with WsgiServer(production_app) as running:
        yield running


class Records(logging.Handler):
    """The log records of wxbot's loggers during a test, from every thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._mutex = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._mutex:
            self.records.append(record)

    def warnings(self) -> list[str]:
        """The messages at WARNING and above, as logger: message."""
        with self._mutex:
            return [f"{r.name}: {r.getMessage()}" for r in self.records if r.levelno >= logging.WARNING]

    def count(self, logger: str, starting: str) -> int:
        with self._mutex:
            return sum(1 for r in self.records if r.name == logger and r.getMessage().startswith(starting))


@pytest.fixture
def wxbot_log() -> Iterator[Records]:
    records = Records()
    logger = logging.getLogger("wxbot")
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)
