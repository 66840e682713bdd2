"""wxbot's own commands as an operator runs them (`wxbot db upgrade`, `wxbot serve`, `wxbot jobs`), as child
processes of a test, with a config file written for them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.test_production_settings import write_config

ROOT = Path(__file__).resolve().parent.parent
WXBOT = str(Path(sys.executable).parent / "wxbot")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path, raw: dict[str, Any]) -> dict[str, str]:
    """The environment of a child: the config file, none of this process's WXBOT_* or metrics settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXBOT_", "PROMETHEUS_"))}
    env.update(WXBOT_CONFIG=str(write_config(tmp_path, raw)), HOME=str(tmp_path))
    return env


def upgrade(env: dict[str, str]) -> None:
    subprocess.run([WXBOT, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


def wait_for(check: Callable[[], object], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
            return
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} did not start within {seconds:g} s") from None
            time.sleep(0.2)


@contextmanager
def running(
    args: list[str], env: dict[str, str], ready_url: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A wxbot command until the block ends (SIGTERM, then the exit awaited); its output in `log_path`."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen([WXBOT, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> None:
        if process.poll() is not None:
            raise AssertionError(f"wxbot {args[0]} exited: {log_path.read_text(errors='replace')[-3000:]}")
        requests.get(ready_url, timeout=5).raise_for_status()

    try:
        wait_for(ready, f"wxbot {args[0]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
