"""`wxbot serve`: never the sandbox on a public address, a warning when no buffering proxy is said to be in
front, no gunicorn control socket shared between instances, and an access log without query strings (a
callback's query signs a plaintext body for the whole timestamp window)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import base_config
from tests.test_production_settings import write_config
from tests.wechat_helpers import sign
from wxbot.cli import is_loopback, main
from wxbot.config import settings_from_dict


class Execs(list):
    """The argument lists `wxbot serve` would exec; `environments` the environments it would give them."""

    def __init__(self) -> None:
        super().__init__()
        self.environments: list[dict[str, str]] = []

    def __call__(self, file: str, args: list[str], env: dict[str, str]) -> None:
        self.append(list(args))
        self.environments.append(dict(env))


@pytest.fixture
def exec_calls(monkeypatch):
    """What `wxbot serve` would exec, instead of exec'ing it."""
    calls = Execs()
    monkeypatch.setattr(os, "execvpe", calls)
    return calls


def serve(tmp_path, *args, sandbox=False):
    raw = base_config(tmp_path)
    raw["sandbox"] = {"enabled": sandbox}
    return CliRunner().invoke(main, ["serve", *args], obj=settings_from_dict(raw, env={}))


@pytest.mark.parametrize("bind", ["0.0.0.0:8000", "[::]:8000", ":8000", "10.0.0.5:80", "wx.example.com:8000"])
def test_the_sandbox_is_never_served_on_a_public_address(tmp_path, exec_calls, bind):
    result = serve(tmp_path, "--bind", bind, "--behind-proxy", sandbox=True)
    assert result.exit_code != 0 and "sandbox" in result.output and bind in result.output
    assert exec_calls == []


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "unix:/tmp/wxbot.sock"])
def test_the_sandbox_may_be_served_on_the_loopback(tmp_path, exec_calls, bind):
    result = serve(tmp_path, "--bind", bind, sandbox=True)
    assert result.exit_code == 0 and "warning" not in result.output
    assert exec_calls and exec_calls[0][exec_calls[0].index("--bind") + 1] == bind


def test_a_public_bind_without_a_proxy_warns_in_one_line(tmp_path, exec_calls):
    result = serve(tmp_path, "--bind", "0.0.0.0:8000")
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning")]
    assert result.exit_code == 0 and len(warning) == 1
    assert "--behind-proxy" in warning[0] and "nginx" in warning[0]
    result = serve(tmp_path, "--bind", "0.0.0.0:8000", "--behind-proxy")
    assert result.exit_code == 0 and "warning" not in result.output
    assert len(exec_calls) == 2


def test_each_instance_runs_without_gunicorns_shared_control_socket(tmp_path, exec_calls):
    assert serve(tmp_path).exit_code == 0
    (args,) = exec_calls
    assert "--no-control-socket" in args
    log_format = args[args.index("--access-logformat") + 1]
    assert "%(U)s" in log_format and not {"%(r)s", "%(q)s", "%(f)s"} & {
        log_format[i : i + 5] for i in range(len(log_format))
    }


@given(st.ip_addresses(), st.integers(1, 65535))
def test_loopback_is_recognised_for_every_address(address, port):
    host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    assert is_loopback(f"{host}:{port}") == address.is_loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_access_log_of_a_real_server_holds_no_callback_query(tmp_path):
    """gunicorn itself, started by `wxbot serve` as an operator would."""
    raw = base_config(tmp_path)
    raw["scheduler"] = {"embedded": False}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXBOT_")}
    env.update(WXBOT_CONFIG=str(write_config(tmp_path, raw)), HOME=str(tmp_path))
    root = Path(__file__).resolve().parent.parent
    subprocess.run([str(Path(sys.executable).parent / "wxbot"), "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    server = subprocess.Popen([str(Path(sys.executable).parent / "wxbot"), "serve", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1"], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        ts, nonce = str(int(time.time())), "123456789"
        query = {
            "signature": sign("oatoken", ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": "oSECRET",
        }
        requests.post(f"http://127.0.0.1:{port}/wechat/oa", params=query, data=b"<xml/>", timeout=10)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "POST /wechat/oa HTTP/1.1" in output, output
    assert query["signature"] not in output and "nonce=" not in output and "oSECRET" not in output
    assert not (tmp_path / ".gunicorn").exists()  # no control socket under this user's home
