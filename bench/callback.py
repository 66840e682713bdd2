"""Benchmark of the official-account callback (issues 2 and 19).

Runs wxbot's callback under gunicorn on MariaDB and Redis, and beside it, under the same gunicorn settings,
a minimal Flask + wechatpy handler that only verifies, parses and replies (bench/echo_app.py), and the
store-only floor (bench/floor_app.py: the echo handler plus one Redis claim and one INSERT), the least any
callback that stores before it answers must do. All are loaded on loopback with the same distinct, validly
signed deliveries, 16 concurrent keep-alive connections, in three modes: plaintext and safe mode (text
messages), and mix (plaintext: 70 % text messages and menu clicks, 30 % TEMPLATESENDJOBFINISH reports). It
prints requests/s, p50 and p99 of each, the CPU time each server's processes used per request, the CPU per
delivery in process, and the database and Redis round trips per delivery (wxbot.roundtrips).
Goal (issue 19): at least 0.7 of the floor's requests/s and p99 under 50 ms.

    .venv/bin/python bench/callback.py [--requests 3000] [--concurrency 16] [--workers 4] [--threads 4]
        [--mysqlclient] [--before DIR]

--mysqlclient adds wxbot on the mysqlclient driver (mysql+mysqldb://) as a row of its own; --before DIR adds
wxbot as checked out in DIR (an earlier commit, e.g. `git worktree add /tmp/before main`) on a database of
its own: the before/after of a change measured in the same rounds.

Bounded: a fixed number of requests per run and a time limit; loopback only; free ports picked; its own
MariaDB databases (created and dropped) and Redis key prefix (deleted afterwards).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
import xmltodict  # noqa: E402
from wechatpy.crypto import WeChatCrypto  # noqa: E402

from wxbot.wechat.crypto import signature  # noqa: E402

TOKEN = "benchtoken"
AES_KEY = "Bench0123456789abcdefghijklmnopqrstuvwxyzAB"
APPID = "wxbench000000001"
ORIGINAL_ID = "gh_bench0000001"
FOLLOWERS = 500  # distinct openids: identities are created, then reused, as in real traffic
WORDS = ["帮助", "你好", "help", "最新职位", "我想投简历"]
SERVERS = ["echo", "floor", "wxbot"]  # then the optional ones: wxbot-mysqlclient, before
WXBOT_SERVERS = ("wxbot", "wxbot-mysqlclient", "before")
MODES = ("plaintext", "safe", "mix")
CLICKS = ("HELP", "JOBS")
FLOOR_TABLE = """CREATE TABLE floor_messages (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    dedupe_key VARCHAR(80) NOT NULL UNIQUE, openid VARCHAR(64) NOT NULL, content TEXT,
    received_at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))"""


@dataclass
class Result:
    latencies: list[float]
    seconds: float
    errors: int
    cpu_seconds: float = 0.0  # used by the server's processes (gunicorn master and workers) meanwhile
    store_cpu_seconds: float = 0.0  # used by MariaDB and Redis meanwhile (0 when they run elsewhere)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def store_cpu_ms_per_request(self) -> float:
        return self.store_cpu_seconds / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cpu_seconds(pid: int) -> float:
    """CPU time of a gunicorn master and its workers so far (Linux /proc): the cost of each request on a
    machine other work shares, which requests/s alone do not show."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    return cpu_seconds(pids)


def store_pids() -> list[int]:
    """MariaDB's and Redis's processes, when they run on this machine (their CPU is the rest of the cost of
    storing and deduplicating, on the same cores)."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("mariadbd", "mysqld", "redis-server"):
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start within {timeout} s")


_msg_ids = itertools.count(10**18 + secrets.randbelow(10**15))
_deliveries = itertools.count()
# CreateTime of the n-th delivery: START + n // FOLLOWERS, so one follower's events never share a second
START = int(time.time()) - 10**6


def delivery_xml(mode: str) -> tuple[str, str]:
    """(openid, plaintext XML) of the next delivery: a text message, or in the mix a click or a report."""
    n = next(_deliveries)
    openid = f"oBench{n % FOLLOWERS:022d}"
    head = (f"<ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{START + n // FOLLOWERS}</CreateTime>")  # fmt: skip
    kind = (n // FOLLOWERS + n) % 10 if mode == "mix" else 9
    if kind < 3:  # 30 %: WeChat's report on a template message
        body = (f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
                f"<MsgID>{next(_msg_ids)}</MsgID><Status><![CDATA[success]]></Status>")  # fmt: skip
    elif kind < 5:  # 20 %: a menu click
        body = (f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
                f"<EventKey><![CDATA[{CLICKS[kind - 3]}]]></EventKey>")  # fmt: skip
    else:
        body = (f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{WORDS[n % len(WORDS)]}]]></Content>"
                f"<MsgId>{next(_msg_ids)}</MsgId>")  # fmt: skip
    return openid, f"<xml>{head}{body}</xml>"


def make_requests(count: int, mode: str) -> list[tuple[str, bytes]]:
    """Distinct deliveries from a pool of followers, signed now."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    app = "bench" if mode == "safe" else "benchplain"
    out = []
    now = int(time.time())
    for _ in range(count):
        openid, xml = delivery_xml(mode)
        ts, nonce = str(now), str(secrets.randbelow(10**10))
        query = {"signature": signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": openid}
        body = xml.encode()
        if mode == "safe":
            enc = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]["Encrypt"]
            query.update(encrypt_type="aes", msg_signature=signature(TOKEN, ts, nonce, enc))
            body = f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
        out.append((f"/wechat/{app}?{urlencode(query)}", body))
    return out


def load(port: int, requests: list[tuple[str, bytes]], concurrency: int, deadline: float) -> Result:
    """Send every request over `concurrency` keep-alive connections; stop early at `deadline`."""
    next_index = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            with lock:
                i = next(next_index)
            if i >= len(requests):
                break
            path, body = requests[i]
            started = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "text/xml"})
                response = conn.getresponse()
                data = response.read()
                ok = response.status == 200 and bool(data)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(latencies, time.perf_counter() - started, errors[0])


def in_process_cpu(apps: dict[str, Any], count: int) -> dict[tuple[str, str], float]:
    """CPU ms per delivery of each app called directly as a WSGI app, one delivery at a time, after a warm-up
    pass: no HTTP server, no concurrency, and (process time) nothing else on the machine in the figure. Round
    trips to MariaDB and Redis cost here what they cost the client, their servers' work is not counted."""
    from werkzeug.test import EnvironBuilder

    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    figures = {}
    for mode in MODES:
        for server, app in apps.items():
            for _warmup_then_measured in range(2):
                environs = []
                for target, body in make_requests(count, mode):
                    path, _, query = target.partition("?")
                    builder = EnvironBuilder(
                        path=path, query_string=query, method="POST", data=body, content_type="text/xml"
                    )
                    environs.append(builder.get_environ())
                started = time.process_time()
                for environ in environs:
                    b"".join(app(environ, start_response))
                figures[(server, mode)] = (time.process_time() - started) / count * 1000
    if any(not status.startswith("200") for status in statuses):
        raise SystemExit(f"in-process deliveries refused: {sorted(set(statuses))}")
    return figures


def round_trips(apps: dict[str, Any], count: int) -> dict[tuple[str, str], tuple[float, float]]:
    """Database and Redis round trips per delivery of each app called in process (wxbot.roundtrips: SQLAlchemy's
    event hooks for wxbot; the floor's raw PyMySQL statements counted at its cursor), one delivery at a time."""
    import pymysql.cursors
    from werkzeug.test import EnvironBuilder

    from wxbot.roundtrips import counted

    floor_statements = [0]
    execute = pymysql.cursors.Cursor.execute

    def counting_execute(self: Any, query: Any, args: Any = None) -> Any:
        floor_statements[0] += 1
        return execute(self, query, args)

    figures = {}
    pymysql.cursors.Cursor.execute = counting_execute  # type: ignore[method-assign]
    try:
        for mode in MODES:
            for server, app in apps.items():
                if server == "echo":
                    continue
                engine = app.extensions["wxbot"].engine if server in WXBOT_SERVERS else None
                environs = []
                for target, body in make_requests(count, mode):
                    path, _, query = target.partition("?")
                    builder = EnvironBuilder(
                        path=path, query_string=query, method="POST", data=body, content_type="text/xml"
                    )
                    environs.append(builder.get_environ())
                floor_statements[0] = 0
                with counted(engine) as trips:
                    for environ in environs:
                        b"".join(app(environ, lambda *a, **k: None))
                database = trips.database if engine is not None else floor_statements[0]
                figures[(server, mode)] = (database / count, trips.redis / count)
    finally:
        pymysql.cursors.Cursor.execute = execute  # type: ignore[method-assign]
    return figures


def write_config(path: Path, var_dir: Path, database_url: str, redis_url: str, prefix: str) -> Path:
    import base64

    def key() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    path.write_text(
        f"""
[app]
secret_key = "{secrets.token_urlsafe(24)}"
log_level = "WARNING"
var_dir = "{var_dir}"
[database]
url = "{database_url}"
[redis]
url = "{redis_url}"
prefix = "{prefix}"
[wechat]
api_base_url = "http://127.0.0.1:9"
[[wechat.official]]
name = "bench"
appid = "{APPID}"
appsecret = "s"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
original_id = "{ORIGINAL_ID}"
[[wechat.official]]
name = "benchplain"
appid = "{APPID}p"
appsecret = "s"
token = "{TOKEN}"
original_id = "{ORIGINAL_ID}"
[scheduler]
embedded = false
[platform]
secret = "{secrets.token_urlsafe(24)}"
[security]
pii_keys = ["{key()}"]
hash_key = "{key()}"
""",
        encoding="utf-8",
    )
    return path


def gunicorn(
    target: str, port: int, args: argparse.Namespace, env: dict[str, str], cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--threads", str(args.threads), "--log-level", "warning", "--no-control-socket", target]  # fmt: skip
    return subprocess.Popen(command, cwd=cwd, env=env)  # noqa: S603


def database_url_for(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}"


def create_tables(tree: Path, url: str) -> None:
    """The tables of the wxbot checked out in `tree`, as its own models describe them (another process: two
    versions of wxbot cannot be imported in one)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import sqlalchemy as sa, wxbot.models; "
            "from wxbot.db import Base; Base.metadata.create_all(sa.create_engine(sys.argv[2]))")  # fmt: skip
    subprocess.run([sys.executable, "-c", code, str(tree), url], check=True, cwd=tree)  # noqa: S603


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per server and mode")
    parser.add_argument("--warmup", type=int, default=300, help="per server and mode, before any measurement")
    parser.add_argument(
        "--rounds", type=int, default=4, help="the measured requests are sent in this many rounds"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--in-process", type=int, default=1000, help="deliveries per app and mode, in process"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--mysqlclient", action="store_true", help="a row for wxbot on mysqlclient")
    parser.add_argument("--before", type=Path, help="a row for the wxbot checked out in this directory")
    parser.add_argument("--max-seconds", type=float, default=600, help="time limit of the whole run")
    parser.add_argument("--database-url", default=os.environ.get("WXBOT_BENCH_DATABASE_URL",
                        "mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4"))  # fmt: skip
    parser.add_argument(
        "--redis-url", default=os.environ.get("WXBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.max_seconds
    servers = SERVERS + ["wxbot-mysqlclient"] * args.mysqlclient + ["before"] * bool(args.before)

    import wxbot.models  # noqa: F401  (registers the tables)
    from wxbot.db import Base

    name = f"wxbot_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = [name] + [f"{name}_before"] * bool(args.before)
    prefix = f"wxbot-bench:{uuid.uuid4().hex[:8]}:"
    server = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for database in names:
            conn.exec_driver_sql(
                f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    database_url = database_url_for(args.database_url, name)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        engine = sa.create_engine(database_url)
        Base.metadata.create_all(engine)
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp)
            config = write_config(var / "bench.toml", var, database_url, args.redis_url, prefix)
            env = {**os.environ, "WXBOT_CONFIG": str(config), "BENCH_TOKEN": TOKEN, "BENCH_AES_KEY": AES_KEY,
                   "BENCH_APPID": APPID, "PYTHONPATH": str(ROOT)}  # fmt: skip
            with engine.begin() as conn:
                conn.exec_driver_sql(FLOOR_TABLE)
            env.update(BENCH_FLOOR_MYSQL=f"{engine.url.host}:{engine.url.port or 3306}/{name}",
                       BENCH_FLOOR_REDIS=args.redis_url, BENCH_FLOOR_PREFIX=f"{prefix}floor:")  # fmt: skip
            targets = {"wxbot": "wsgi:app", "echo": "bench.echo_app:app", "floor": "bench.floor_app:app",
                       "wxbot-mysqlclient": "wsgi:app", "before": "wsgi:app"}  # fmt: skip
            envs = {target: env for target in servers}
            cwds = {target: ROOT for target in servers}
            mysqlclient_url = database_url.replace("mysql+pymysql://", "mysql+mysqldb://")
            mysqlclient_config = write_config(
                var / "mysqlclient.toml", var, mysqlclient_url, args.redis_url, prefix
            )
            envs["wxbot-mysqlclient"] = {**env, "WXBOT_CONFIG": str(mysqlclient_config)}
            if args.before:
                before_url = database_url_for(args.database_url, names[1])
                create_tables(args.before.resolve(), before_url)
                before_config = write_config(
                    var / "before.toml", var, before_url, args.redis_url, prefix + "before:"
                )
                envs["before"] = {
                    **env,
                    "WXBOT_CONFIG": str(before_config),
                    "PYTHONPATH": str(args.before.resolve()),
                }
                cwds["before"] = args.before.resolve()
            ports = {target: free_port() for target in servers}
            processes += [gunicorn(targets[t], ports[t], args, envs[t], cwds[t]) for t in servers]
            for (_, port), process in zip(ports.items(), processes, strict=True):
                wait_for_port(port, process)
            pids = {target: process.pid for target, process in zip(servers, processes, strict=True)}
            load_before = os.getloadavg()[0]

            # Every server warmed in every mode before anything is measured: gunicorn opens the port before
            # its workers have imported the app, and a server still starting takes CPU from the one measured.
            answered = dict.fromkeys(servers, 0)
            warmup_errors = dict.fromkeys(servers, 0)  # not answered 200 within 10 s while starting
            for mode in MODES:
                for target in servers:
                    warmup = load(ports[target], make_requests(args.warmup, mode), args.concurrency, deadline)
                    answered[target] += len(warmup.latencies)
                    warmup_errors[target] += warmup.errors
            # Measured in rounds, the servers' order rotating from round to round, so that a change in the
            # machine's other work during the run falls on all of them alike.
            results = {(target, mode): Result([], 0.0, 0) for target in servers for mode in MODES}
            per_round = max(1, args.requests // args.rounds)
            stores = store_pids()
            for round_number in range(args.rounds):
                for mode in MODES:
                    shift = round_number % len(servers)
                    for target in servers[shift:] + servers[:shift]:
                        requests = make_requests(per_round, mode)
                        cpu_before = server_cpu_seconds(pids[target]), cpu_seconds(stores)
                        part = load(ports[target], requests, args.concurrency, deadline)
                        total = results[(target, mode)]
                        total.cpu_seconds += server_cpu_seconds(pids[target]) - cpu_before[0]
                        total.store_cpu_seconds += cpu_seconds(stores) - cpu_before[1]
                        total.latencies += part.latencies
                        total.seconds += part.seconds
                        total.errors += part.errors
                        answered[target] += len(part.latencies)
            stored = {}
            for target, url in [("wxbot", database_url)] + [
                ("before", database_url_for(args.database_url, n)) for n in names[1:]
            ]:
                counter = sa.create_engine(url)
                with counter.connect() as conn:
                    stored[target] = conn.exec_driver_sql("SELECT COUNT(*) FROM inbound_messages").scalar()
                counter.dispose()
            os.environ.update(env)  # the same configuration for the apps loaded in this process
            from bench import echo_app, floor_app
            from wxbot import create_app

            apps: dict[str, Any] = {"echo": echo_app.app, "floor": floor_app.app, "wxbot": create_app()}
            if args.mysqlclient:
                os.environ["WXBOT_CONFIG"] = str(mysqlclient_config)
                apps["wxbot-mysqlclient"] = create_app()
            in_process = in_process_cpu(apps, args.in_process)
            trips = round_trips(apps, 200)
        engine.dispose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        with server.connect() as conn:
            for database in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database}")
        server.dispose()
        client = redis.Redis.from_url(args.redis_url)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()

    print(f"\ncallback benchmark: {args.requests} requests per server and mode in {args.rounds} rounds, "
          f"{args.concurrency} concurrent, "
          f"gunicorn --workers {args.workers} --threads {args.threads}, MariaDB + Redis, {os.cpu_count()} cores")  # fmt: skip
    print(
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (all work on the machine)"
    )
    print(
        "modes: plaintext and safe: text messages; mix (plaintext): 70 % text and clicks, 30 % TEMPLATESENDJOBFINISH"
    )
    print(f"{'server':<17} {'mode':<10} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'cpu ms/req':>10} {'db+redis':>8}")  # fmt: skip
    for (target, mode), r in sorted(
        results.items(), key=lambda kv: (MODES.index(kv[0][1]), servers.index(kv[0][0]))
    ):
        print(f"{target:<17} {mode:<10} {len(r.latencies):>8} {r.errors:>6} {r.rps:>8.0f} "
              f"{r.percentile(0.50):>7.1f} {r.percentile(0.99):>7.1f} {r.cpu_ms_per_request:>10.2f} {r.store_cpu_ms_per_request:>8.2f}")  # fmt: skip
    verdicts = []
    for mode in MODES:
        floor, echo = results[("floor", mode)], results[("echo", mode)]
        ratios = []
        for target in servers:
            if target in WXBOT_SERVERS:
                ours = results[(target, mode)]
                ratios.append(f"{target}/floor = {ours.rps / floor.rps if floor.rps else 0.0:.2f}")
        ours = results[("wxbot", mode)]
        ratio = ours.rps / floor.rps if floor.rps else 0.0
        met = ours.percentile(0.99) < 50 and ratio >= 0.7 and not ours.errors
        verdicts.append(met)
        print(f"{mode}: requests/s {', '.join(ratios)}; goal (wxbot p99 < 50 ms, wxbot/floor >= 0.7): "
              f"{'met' if met else 'MISSED'}; floor/echo = {floor.rps / echo.rps if echo.rps else 0.0:.2f}")  # fmt: skip
    in_process_servers = [t for t in servers if t in apps]
    print(f"CPU ms per delivery in this process, one at a time ({args.in_process} per app and mode):")
    for mode in MODES:
        figures = ", ".join(f"{t} {in_process[(t, mode)]:.2f}" for t in in_process_servers)
        print(
            f"  {mode:<10} {figures}; wxbot/floor = {in_process[('wxbot', mode)] / in_process[('floor', mode)]:.1f}x"
        )
    print("round trips per delivery (database + Redis), in process, 200 per app and mode:")
    for mode in MODES:
        figures = ", ".join(f"{t} {trips[(t, mode)][0]:.1f} + {trips[(t, mode)][1]:.1f}"
                            for t in in_process_servers if t != "echo")  # fmt: skip
        print(f"  {mode:<10} {figures}")
    sent = {
        "wxbot": answered["wxbot"] + answered.get("wxbot-mysqlclient", 0),
        "before": answered.get("before", 0),
    }
    for target, count in stored.items():
        print(f"{target} stored {count} deliveries for {sent[target]} answered")
    print(f"not answered during the warm-up: {', '.join(f'{t} {n}' for t, n in warmup_errors.items())}")
    print(f"run took {time.monotonic() - started:.0f} s")
    sys.exit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
