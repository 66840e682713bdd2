"""Benchmark of `wxbot followers sync` (issue 14): an official account with N followers from before wxbot,
back-filled against the sandbox WeChat answering every call after `--latency` seconds.

The sandbox WeChat runs on a free loopback port (threaded, as in the tests) with N silent followers; wxbot's
back-fill (wxbot.identity.backfill.sync, what the command runs) walks user/get and asks user/info/batchget,
at most `--rate` calls a second, into its own database (SQLite in a temporary directory, or `--database-url`,
a MariaDB server: a database of its own is created and dropped). It prints the time, the calls per API, the
identities created and unionids learned, and checks that every follower has an identity with its unionid.

    .venv/bin/python bench/followers.py [--followers 100000] [--latency 0.05] [--rate 20]
        [--database-url mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4]

Bounded: a fixed number of followers; loopback only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

import wxbot.models  # noqa: E402, F401
from wxbot.config import settings_from_dict  # noqa: E402
from wxbot.db import Base  # noqa: E402
from wxbot.identity import backfill  # noqa: E402
from wxbot.models.identity import Identity  # noqa: E402
from wxbot.sandbox import SandboxState, create_sandbox_app  # noqa: E402
from wxbot.services import build_services  # noqa: E402

APPID, SECRET = "wxbench000000001", "bench-secret"
PATHS = ("/cgi-bin/stable_token", "/cgi-bin/user/get", "/cgi-bin/user/info/batchget")


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def database(url: str | None, tmp: str) -> tuple[str, Any]:
    """The database URL to use, and a function dropping it afterwards."""
    if not url:
        return f"sqlite:///{tmp}/bench.db", lambda: None
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"wxbot_bench_followers_{uuid.uuid4().hex[:6]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    base, _, query = url.partition("?")

    def drop() -> None:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()

    return f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}", drop


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    state = SandboxState()
    state.add_app(APPID, SECRET, "official")
    server = make_server("127.0.0.1", 0, create_sandbox_app(state), threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base_url = f"http://127.0.0.1:{server.server_port}"
    state.official.add_silent_followers(APPID, args.followers)
    for path in PATHS:
        state.inject(path, times=None, latency=args.latency, answer_late=True)

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = database(args.database_url, tmp)
        settings = settings_from_dict({
            "app": {"environment": "development", "secret_key": "bench-secret-key", "var_dir": tmp},
            "database": {"url": url},
            "wechat": {"api_base_url": state.base_url, "official": [
                {"name": "bench", "appid": APPID, "appsecret": SECRET, "token": "benchtoken"}]},
            "scheduler": {"embedded": False},
        }, env={})  # fmt: skip
        services = build_services(settings)
        try:
            Base.metadata.create_all(services.engine)
            began = time.monotonic()
            done = backfill.sync(services.session_factory, services.wechat, "bench", rate=args.rate)
            seconds = time.monotonic() - began
            with services.session_factory() as session:
                stored = session.scalar(sa.select(sa.func.count()).select_from(Identity))
                with_unionid = session.scalar(
                    sa.select(sa.func.count()).select_from(Identity).where(Identity.unionid.is_not(None))
                )
        finally:
            services.engine.dispose()
            drop()
    server.shutdown()
    calls = Counter(c.path for c in state.calls())
    print(f"{args.followers} followers, WeChat latency {args.latency * 1000:.0f} ms, at most {args.rate:g} calls/s, "
          f"database {services.engine.dialect.name}")  # fmt: skip
    print(f"back-filled in {seconds:.1f} s: {done.listed} listed, {done.created} identities created, "
          f"{done.unionids} unionids learned, {done.calls} calls ({seconds / max(done.calls, 1) * 1000:.0f} ms each)")  # fmt: skip
    print("calls: " + ", ".join(f"{path} {n}" for path, n in sorted(calls.items())))
    ok = stored == with_unionid == args.followers
    print(f"identities {stored}, with unionid {with_unionid}: {'ok' if ok else 'MISSING'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
