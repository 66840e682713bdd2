"""Behind deploy/nginx/wxbot.conf, slow clients do not stop the callback: 24 connections trickling their
headers or bodies (as many as gunicorn has threads and more) while WeChat's deliveries, through the same
nginx, are each answered within WeChat's 5 seconds. nginx and gunicorn (`wxbot serve --behind-proxy`) run
as an operator runs them; the site is deploy/'s own, with only its addresses, ports and certificate paths
changed for this machine. Skipped, with the reason, where nginx is not installed (CI installs it)."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import base_config
from tests.faults.http_follower import HttpFollower, _Answer
from tests.process_helpers import ROOT, environment, free_port, running, upgrade, wait_for
from wxbot import create_app
from wxbot.config import settings_from_dict

pytestmark = pytest.mark.slow

SITE = ROOT / "deploy" / "nginx" / "wxbot.conf"
SLOW_CLIENTS = 24  # gunicorn below has 3 workers x 4 threads = 12
WECHAT_DEADLINE = 5.0  # WeChat's: a delivery not answered within it is sent again


def _nginx() -> str:
    found = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    return found


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def site_for_this_machine(directory: Path, upstream_port: int, http_port: int, https_port: int) -> str:
    """deploy/'s site with this machine's ports, certificate and log paths; nothing else changed."""
    cert, key = _certificate(directory)
    site = SITE.read_text(encoding="utf-8")
    changes = {
        "server 127.0.0.1:8000 ": f"server 127.0.0.1:{upstream_port} ",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/wxbot/fullchain.pem": str(cert),
        "/etc/ssl/wxbot/privkey.pem": str(key),
        "/var/log/nginx/wxbot.access.log": str(directory / "access.log"),
    }
    for old, new in changes.items():
        assert site.count(old) == 1, f"deploy/nginx/wxbot.conf no longer has {old!r}"
        site = site.replace(old, new)
    return "\n".join(line for line in site.splitlines() if "listen [::]:" not in line)


@contextmanager
def nginx_site(directory: Path, upstream_port: int) -> Iterator[str]:
    """nginx with deploy/'s site in front of `upstream_port`, until the block ends: its https base URL."""
    nginx = _nginx()
    http_port, https_port = free_port(), free_port()
    directory.mkdir(exist_ok=True)
    site = site_for_this_machine(directory, upstream_port, http_port, https_port)
    temp = " ".join(
        f"{kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"daemon off; pid {directory / 'nginx.pid'}; error_log {directory / 'error.log'} warn;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{ {temp}\n{site}\n}}\n",
        encoding="utf-8",
    )
    proxy = subprocess.Popen([nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"https://127.0.0.1:{https_port}"
    try:
        wait_for(
            lambda: requests.get(f"{base}/healthz", timeout=5, verify=False).raise_for_status(), "nginx", 30
        )
        yield base
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


@contextmanager
def serving(tmp_path: Path) -> Iterator[tuple[int, Any]]:
    """`wxbot serve --behind-proxy` with 3 workers x 4 threads: (its port, an app with its settings)."""
    raw = base_config(tmp_path)
    env = environment(tmp_path, raw)
    upgrade(env)
    upstream = free_port()
    serve = ["serve", "--bind", f"127.0.0.1:{upstream}", "--behind-proxy", "--workers", "3", "--threads", "4"]
    with running(serve, env, f"http://127.0.0.1:{upstream}/healthz", tmp_path / "serve.log"):
        yield upstream, create_app(settings_from_dict(raw, env={}))


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(https base URL, an app with the server's settings) with nginx in front of `wxbot serve`."""
    _nginx()
    with serving(tmp_path) as (upstream, app), nginx_site(tmp_path / "nginx", upstream) as base:
        yield base, app


class Trickle(threading.Thread):
    """A client that sends its request a byte at a time, slower than any deadline, until told to stop:
    in its headers, or (body=True) in a body that never finishes."""

    def __init__(self, port: int, body: bool, stop: threading.Event, *, tls: bool = True) -> None:
        super().__init__(daemon=True)
        self.port, self.body, self.stop, self.tls, self.connected = port, body, stop, tls, threading.Event()

    def run(self) -> None:
        head = b"POST /wechat/oa?timestamp=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if self.body:
            head += b"Content-Type: text/xml\r\nContent-Length: 4096\r\n\r\n"
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            raw = context.wrap_socket(raw)
        with raw:
            raw.sendall(head)
            self.connected.set()
            while not self.stop.wait(0.5):
                try:
                    raw.sendall(b"<" if self.body else b"X")
                except OSError:
                    return  # a timeout closed it


class DeadlineFollower(HttpFollower):
    """A follower whose deliveries fail (requests' ReadTimeout) when not answered within WeChat's 5 s."""

    def post(self, body: bytes, params: dict[str, str]) -> _Answer:
        response = self.http.post(self.url, params=params, data=body, headers={"Content-Type": "text/xml"},
                                  timeout=WECHAT_DEADLINE, verify=False)  # fmt: skip
        return _Answer(response.status_code, response.text)


def test_deliveries_are_answered_within_wechats_deadline_while_slow_clients_hold_connections(nginx_in_front):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    base, app = nginx_in_front
    port = int(base.rpartition(":")[2])
    stop = threading.Event()
    slow = [Trickle(port, body=i % 2 == 1, stop=stop) for i in range(SLOW_CLIENTS)]
    for client in slow:
        client.start()
    try:
        assert all(client.connected.wait(10) for client in slow)
        time.sleep(1)  # a trickled byte or two each: nginx has taken them up
        answered = []
        with requests.Session() as http:
            for _ in range(20):
                follower = DeadlineFollower(app, base, http)
                # a delivery not answered within WeChat's 5 s raises requests' ReadTimeout here
                answered.append(follower.send_text("帮助").status)
            still_trickling = sum(client.is_alive() for client in slow)
    finally:
        stop.set()
    assert answered == [200] * 20
    assert still_trickling == SLOW_CLIENTS  # all of them held their connection throughout


def test_an_answer_through_the_site_names_its_request_once(nginx_in_front, tmp_path):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    base, _ = nginx_in_front
    answer = requests.get(f"{base}/healthz", timeout=10, verify=False)
    ids = answer.raw.headers.getlist("X-Request-Id")
    assert len(ids) == 1, ids  # nginx's id, which wxbot was given and used, not two of them
    access_log = (tmp_path / "nginx" / "access.log").read_text(encoding="utf-8")
    assert access_log.rstrip().endswith(ids[0])
