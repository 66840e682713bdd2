"""The page part of bench/scale.py: the console's inbox and search, the mini program's `me`, `applications` and
export, on the full and the near-empty database, in the same rounds.

In process (Flask's test client, one request at a time: the latency of each page as its own queries and
template make it, not a server's queueing). The console is logged in through its login form with its CSRF
token, as the tests do; the mini-program user holds a login token of the fixture (bench/scale_load.py). The
export's rate limit (10 an hour) is reset in Redis before each export.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import redis

from bench import scale_explain, scale_load

HTTPS = "https://localhost"  # the console's session cookie is Secure


def pages(fixture: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (who, path)."""
    mp = f"/mp/{scale_load.MP_NAME}"
    return {
        "inbox page 1": ("console", "/console/?state=open"),
        "inbox page 50": ("console", "/console/?state=open&page=50"),
        "search openid": ("console", f"/console/?q={fixture['openid']}"),
        "search text": ("console", f"/console/?q={quote(scale_load.SEARCH_TEXT)}"),
        "mp me": ("mp", f"{mp}/me"),
        "mp applications": ("mp", f"{mp}/applications"),
        "mp export": ("mp", f"{mp}/me/export"),
    }


def console_client(app: Any) -> Any:
    client = app.test_client()
    page = client.get("/console/login", base_url=HTTPS).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "the login page has no CSRF field"
    answer = client.post("/console/login", data={"username": scale_load.AGENT, "password": scale_load.PASSWORD,
                                                 "csrf_token": csrf.group(1)}, base_url=HTTPS)  # fmt: skip
    assert answer.status_code in (302, 303), answer.status_code
    return client


class Visitor:
    """One database's app, its console client and its mini-program user."""

    def __init__(self, app: Any, fixture: dict[str, Any], redis_url: str, prefix: str) -> None:
        self.app, self.fixture = app, fixture
        self.console = console_client(app)
        self.mp = app.test_client()
        self.headers = {"Authorization": f"Bearer {fixture['token']}"}
        self.redis = redis.Redis.from_url(redis_url)
        self.export_key = f"{prefix}privacy:export:account:{fixture['account_id']}"

    def get(self, who: str, path: str) -> float:
        if path.endswith("/export"):
            self.redis.delete(self.export_key)
        started = time.perf_counter()
        answer = (
            self.console.get(path, base_url=HTTPS)
            if who == "console"
            else self.mp.get(path, headers=self.headers)
        )
        seconds = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
        return seconds


def measure(visitors: dict[str, Visitor], fixture: dict[str, Any], requests: int, rounds: int,
            max_seconds: float) -> dict[tuple[str, str], list[float]]:  # fmt: skip
    """(page, database) -> latencies; `requests` per page and database in `rounds` alternating rounds, each
    (page, database) stopped after `max_seconds` in all."""
    measured = pages(fixture)
    latencies: dict[tuple[str, str], list[float]] = {(p, db): [] for p in measured for db in visitors}
    spent = dict.fromkeys(latencies, 0.0)
    for visitor in visitors.values():  # warm: templates compiled, pools filled, pages cached by MariaDB alike
        for who, path in measured.values():
            visitor.get(who, path)
    order = list(visitors)
    per_round = max(1, requests // rounds)
    for round_number in range(rounds):
        for name, (who, path) in measured.items():
            for db in order[round_number % 2 :] + order[: round_number % 2]:
                for _ in range(per_round):
                    if spent[(name, db)] > max_seconds:
                        break
                    seconds = visitors[db].get(who, path)
                    latencies[(name, db)].append(seconds)
                    spent[(name, db)] += seconds
    return latencies


def explain(visitor: Visitor, fixture: dict[str, Any]) -> list[str]:
    engine = visitor.app.extensions["wxbot"].engine
    lines = []
    for name, (who, path) in pages(fixture).items():
        with scale_explain.recording(engine) as seen:
            visitor.get(who, path)
        lines += scale_explain.plans(engine, seen, label=f"[{name}] ")
    return lines
