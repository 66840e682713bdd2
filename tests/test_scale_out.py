"""Several hosts, one MariaDB and one Redis: three hosts built on this machine with network namespaces and
veth pairs on a bridge. Hosts a and b each run `wxbot serve --behind-proxy` and `wxbot jobs`; host l holds the
load generator (tests/scale_out_load.py). MariaDB, Redis and the sandbox WeChat are the test's own, reached
over the virtual network at the bridge's address. Counted:
- a retry storm split across both web hosts is stored once per message and answered identically;
- one access token for the account across both job hosts;
- a push backlog drained by both job hosts, each push sent exactly once;
- the singleton jobs on one host at a time (a run due on both: one runs, the other skips; no runs overlap);
- one host's processes killed (SIGKILL) mid-drain, the other finishing the work, every follower told once.

Skipped, saying why, where network namespaces cannot be made (not root, no iproute2); with
WXBOT_REQUIRE_NETNS=1 (.ci/run sets it) that is a failure instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import OA, base_config
from tests.faults.conftest import PrivateMariaDB, free_port
from tests.process_helpers import ROOT, WXBOT, environment, upgrade, wait_for
from wxbot.models import Identity, InboundMessage, Notification
from wxbot.push.enqueue import PushContent, TemplateContent, enqueue
from wxbot.sandbox import SandboxState, create_sandbox_app

pytestmark = pytest.mark.slow

TEMPLATE = "/cgi-bin/message/template/send"
MESSAGES, COPIES = 150, 4  # the storm: 600 deliveries
BACKLOG = 300  # pushes per drain
BATCHGET = "/cgi-bin/user/info/batchget"
SINGLETON_RUN = re.compile(r"job (?P<job>\S+) (?:ok|failed): (?P<seconds>[\d.]+) s from (?P<at>\S+)")
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Network:
    """A bridge at `gateway` (this machine's side) and one namespace per host on it."""

    tag: str
    prefix: str
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> its address

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def namespace(self, host: str) -> str:
        return f"wx{self.tag}-{host}"

    def build(self, names: list[str]) -> None:
        bridge = f"wxb{self.tag}"
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, host in enumerate(names, start=1):
            ns, outer, inner = self.namespace(host), f"wxv{self.tag}{i}", f"wxp{self.tag}{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            address = f"{self.prefix}.{10 + i}"
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            self.hosts[host] = address
        # Where Docker runs, bridged traffic passes the FORWARD chain, whose policy it sets to DROP: let the
        # hosts reach each other through this bridge (the rule goes with the bridge in tear_down).
        if self._iptables() is not None:
            subprocess.run([self._iptables(), "-I", "FORWARD", *self._forward_rule()], check=True,
                           capture_output=True, timeout=30)  # fmt: skip

    @staticmethod
    def _iptables() -> str | None:
        return shutil.which("iptables", path=SBIN)

    def _forward_rule(self) -> list[str]:
        return ["-i", f"wxb{self.tag}", "-o", f"wxb{self.tag}", "-j", "ACCEPT"]

    def tear_down(self) -> None:
        if self._iptables() is not None:
            subprocess.run([self._iptables(), "-D", "FORWARD", *self._forward_rule()], capture_output=True,
                           timeout=30)  # fmt: skip
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", self.namespace(host)], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", f"wxb{self.tag}"], capture_output=True, timeout=30)


@pytest.fixture
def network() -> Iterator[Network]:
    required = os.environ.get("WXBOT_REQUIRE_NETNS") == "1"
    tag = str(os.getpid() % 10000)
    net = Network(tag, f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}")
    try:
        if shutil.which("ip", path=SBIN) is None:
            raise OSError("iproute2 (ip) is not installed")
        net.build(["a", "b", "l"])
    except (OSError, subprocess.CalledProcessError) as exc:
        net.tear_down()
        reason = getattr(exc, "stderr", b"") or str(exc)
        if required:
            pytest.fail(f"network namespaces are required here and could not be made: {reason!r}")
        pytest.skip(f"network namespaces cannot be made on this machine: {reason!r}")
    yield net
    net.tear_down()


def _binary(name: str) -> str:
    found = shutil.which(name, path=SBIN)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture
def shared(network: Network, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """MariaDB, Redis and the sandbox WeChat on the bridge's address; the hosts' settings (raw)."""
    gateway = network.gateway
    datadir = tmp_path / "mariadb"
    datadir.mkdir()
    root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run([_binary("mariadb-install-db"), "--no-defaults", "--auth-root-authentication-method=normal",
                    "--skip-test-db", f"--datadir={datadir}", *root], check=True, capture_output=True, timeout=120)  # fmt: skip
    port = free_port()
    command = [_binary("mariadbd"), "--no-defaults", f"--datadir={datadir}", f"--port={port}",
               f"--bind-address=127.0.0.1,{gateway}", f"--socket={datadir}/m.sock", f"--pid-file={datadir}/m.pid",
               "--skip-grant-tables", "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
               "--innodb-flush-log-at-trx-commit=2", "--max-connections=500", *root]  # fmt: skip
    database = PrivateMariaDB(port, datadir, command, database="wxbot_scale")
    redis_port = free_port()
    with ExitStack() as stack:
        database.start()
        stack.callback(database.stop)
        connection = pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE wxbot_scale CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        connection.close()
        cache = subprocess.Popen([_binary("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1", gateway,
                                  "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp_path)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        stack.callback(lambda: (cache.kill(), cache.wait()))
        wait_for(lambda: redis.Redis(port=redis_port, socket_connect_timeout=1).ping(), "redis", 15)
        state = SandboxState()
        state.add_app(OA["appid"], OA["appsecret"], "official")

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        server = make_server(gateway, 0, create_sandbox_app(state), threaded=True, request_handler=Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        stack.callback(server.shutdown)
        raw = base_config(tmp_path)
        raw["database"]["url"] = f"mysql+pymysql://root@{gateway}:{port}/wxbot_scale?charset=utf8mb4"
        raw["redis"]["url"] = f"redis://{gateway}:{redis_port}/0"
        raw["wechat"]["api_base_url"] = f"http://{gateway}:{server.server_port}"
        raw["wechat"]["miniprogram"] = []
        raw["notify"] = {"templates": {"status_viewed": {"oa": {"template_id": "oa-tid", "fields": {"thing1": "{job_title}"}}}},
                         "quiet_hours_start": "", "quiet_hours_end": "", "daily_cap": 0, "batch_size": 20}  # fmt: skip
        raw["metrics"] = {"official_quota_apis": [], "miniprogram_quota_apis": []}
        yield {"raw": raw, "sandbox": state, "url": raw["database"]["url"]}


class Host:
    """`wxbot serve` and `wxbot jobs` in one namespace, their output in files."""

    def __init__(self, network: Network, name: str, env: dict[str, str], logs: Path) -> None:
        self.name, self.address, self.env, self.logs = name, network.hosts[name], env, logs
        self.prefix = ["ip", "netns", "exec", network.namespace(name)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, what: str, *args: str) -> None:
        with open(self.logs / f"{self.name}-{what}.log", "wb") as log:
            self.processes[what] = subprocess.Popen([*self.prefix, WXBOT, *args], cwd=ROOT, env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def start_web(self) -> None:
        self.start("serve", "serve", "--bind", f"{self.address}:8000", "--workers", "2", "--behind-proxy")
        wait_for(lambda: requests.get(f"http://{self.address}:8000/readyz", timeout=5).raise_for_status(),
                 f"host {self.name}'s web service")  # fmt: skip

    def start_jobs(self) -> None:
        self.start("jobs", "jobs", "--metrics-bind", f"{self.address}:9108")

    def wait_for_jobs(self) -> None:
        wait_for(lambda: requests.get(f"http://{self.address}:9108/metrics", timeout=5).raise_for_status(),
                 f"host {self.name}'s jobs process")  # fmt: skip

    def counted(self, name: str, **labels: str) -> float:
        text = requests.get(f"http://{self.address}:9108/metrics", timeout=10).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name and s.labels == labels)  # fmt: skip

    def sent(self) -> float:
        return self.counted("wxbot_sends_total", channel="template", result="sent")

    def singleton_runs(self) -> list[Run]:
        """The singleton jobs' runs this host's jobs process logged (jobs._guarded)."""
        text = (self.logs / f"{self.name}-jobs.log").read_text(encoding="utf-8", errors="replace")
        return [Run(m["job"], self.name, datetime.fromisoformat(m["at"]), float(m["seconds"]))
                for m in SINGLETON_RUN.finditer(text)]  # fmt: skip

    def kill(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


@dataclass(frozen=True)
class Run:
    job: str
    host: str
    started: datetime
    seconds: float

    @property
    def ended(self) -> datetime:
        return self.started + timedelta(seconds=self.seconds)


def _overlapping(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Runs of the same job that were under way at the same time."""
    ordered = sorted(runs, key=lambda r: (r.job, r.started))
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if a.job == b.job and b.started < a.ended]


def _backlog(url: str, sandbox: SandboxState, batch: str) -> list[str]:
    engine = sa.create_engine(url)
    openids = [f"o-{batch}-{i}" for i in range(BACKLOG)]
    with Session(engine) as session:
        session.execute(sa.insert(Identity), [{"app_name": "oa", "appid": OA["appid"], "kind": "official",
                                               "openid": o, "subscribed": True} for o in openids])  # fmt: skip
        for identity in session.scalars(sa.select(Identity).where(Identity.openid.in_(openids))):
            sandbox.set_follower(OA["appid"], identity.openid)
            content = PushContent(template=TemplateContent("status_viewed", {"job_title": "工程师"}))
            enqueue(session, purpose="test", identity_id=identity.id, content=content, channels=("template",),
                    dedupe_key=f"push-{identity.id}")  # fmt: skip
        session.commit()
    engine.dispose()
    return openids


def _statuses(url: str) -> Counter[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = Counter(dict(conn.execute(sa.select(Notification.status, sa.func.count()).group_by(Notification.status)).all()))  # fmt: skip
    engine.dispose()
    return found


def _drained(url: str, seconds: float = 180) -> Counter[str]:
    deadline = time.monotonic() + seconds
    while (statuses := _statuses(url)) and set(statuses) != {"sent"}:
        assert time.monotonic() < deadline, f"the backlog was not drained: {statuses}"
        time.sleep(0.5)
    return statuses


def test_two_hosts_share_the_work_over_one_mariadb_and_redis(network, shared, tmp_path):
    raw, sandbox, url = shared["raw"], shared["sandbox"], shared["url"]
    env = environment(tmp_path, raw)
    upgrade(env)
    hosts = [Host(network, name, env, tmp_path) for name in ("a", "b")]
    try:
        for host in hosts:
            host.start_web()

        # A retry storm, copies alternating between the hosts, from the load host.
        load_env = {**env, "WXBOT_SCALE_OUT": json.dumps({
            "config": raw, "hosts": [f"http://{h.address}:8000" for h in hosts], "messages": MESSAGES, "copies": COPIES,
        })}  # fmt: skip
        generated = subprocess.run(["ip", "netns", "exec", network.namespace("l"), sys.executable,
                                    str(ROOT / "tests" / "scale_out_load.py")], env=load_env, cwd=ROOT,
                                   capture_output=True, text=True, timeout=600)  # fmt: skip
        assert generated.returncode == 0, generated.stderr[-3000:]
        storm = json.loads(generated.stdout.strip().splitlines()[-1])
        assert {answer: n for answer, n in storm["answered"].items()} == {
            f"http://{h.address}:8000 200": MESSAGES * COPIES // 2 for h in hosts
        }
        assert all(len(set(replies)) == 1 and replies[0] for replies in storm["replies"].values())
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(InboundMessage)).scalar()
        engine.dispose()
        assert stored == MESSAGES  # once each, of MESSAGES x COPIES deliveries

        # A backlog drained by both job hosts, each push once; one access token for the account.
        # The unionid job (a singleton) finds the backlog's followers to ask about; WeChat's slow answer keeps
        # each run going for seconds, while the other host's scheduler, started at the same moment, tries too.
        sandbox.inject(BATCHGET, latency=3.0, times=None)
        for host in hosts:
            host.start_jobs()
        for host in hosts:
            host.wait_for_jobs()
        sandbox.inject(TEMPLATE, latency=0.2, times=None)  # WeChat's answers take time: the drains overlap
        first = _backlog(url, sandbox, "first")
        assert _drained(url) == Counter({"sent": BACKLOG})
        shares = [host.sent() for host in hosts]
        assert all(share > 0 for share in shares) and sum(shares) == BACKLOG, shares
        assert len([c for c in sandbox.calls("/cgi-bin/stable_token") if c.errcode == 0]) == 1
        delivered = Counter(d.body["touser"] for o in first for d in sandbox.inbox(OA["appid"], o))
        assert len(delivered) == BACKLOG and set(delivered.values()) == {1}

        # The singleton jobs, on one host at a time: the unionid job's first runs were due on both hosts at
        # once; one ran, the other found the lock held and skipped, and no two runs of a job overlapped (the
        # runs of a second or more log where and when, jobs._guarded).
        deadline = time.monotonic() + 90
        while not (sum(h.counted("wxbot_job_runs_total", job="unionid", result="skipped") for h in hosts)
                   and sum(h.counted("wxbot_job_runs_total", job="unionid", result="ok") for h in hosts)):  # fmt: skip
            assert time.monotonic() < deadline, "the unionid job did not run on the job hosts"
            time.sleep(0.5)
        runs = [run for host in hosts for run in host.singleton_runs()]
        assert any(run.job == "unionid" for run in runs)
        assert _overlapping(runs) == []

        # Host a dies mid-drain (SIGKILL, web and jobs): host b finishes, every follower told once.
        second = _backlog(url, sandbox, "second")
        deadline = time.monotonic() + 60
        while _statuses(url)["sent"] < BACKLOG + 20:
            assert time.monotonic() < deadline, "the second drain did not start"
            time.sleep(0.05)
        hosts[0].kill()
        assert _drained(url) == Counter({"sent": 2 * BACKLOG})
        delivered = Counter(d.body["touser"] for o in second for d in sandbox.inbox(OA["appid"], o))
        assert len(delivered) == BACKLOG and set(delivered.values()) == {1}
        repeated = sum(n - 1 for n in Counter(c.body["touser"] for c in sandbox.calls(TEMPLATE)
                                               if c.body["touser"] in set(second)).values())  # fmt: skip
        rate = MESSAGES * COPIES / storm["seconds"]
        print(f"\nscale-out: storm of {MESSAGES}x{COPIES} deliveries at {rate:.0f}/s (8 messages at once), "
              f"{stored} stored; first drain shared {shares}; after host a's kill {repeated} sends repeated "
              "(WeChat drops them: the same client_msg_id)")  # fmt: skip
    finally:
        for host in hosts:
            host.stop()
