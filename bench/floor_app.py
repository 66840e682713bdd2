"""A second reference for bench/callback.py: the echo handler plus the least a durable, deduplicating
callback must do: claim the delivery in Redis (one SET NX) and store it in MariaDB (one autocommitted
INSERT, raw PyMySQL, one connection per thread) before answering. No ORM, no follower, no reply window, no
routing. Where this floor stands against the echo handler shows what any callback that stores before it
answers can reach on the machine. Configured by the benchmark: the echo's variables and BENCH_FLOOR_MYSQL
(host:port/database), BENCH_FLOOR_REDIS (a redis:// URL), BENCH_FLOOR_PREFIX.

    gunicorn bench.floor_app:app
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pymysql
import redis
from flask import Flask, Response

from bench.echo_app import Refused, echo, verified_message  # the echo handler's verify, parse, reply

_address, _, _database = os.environ.get("BENCH_FLOOR_MYSQL", "127.0.0.1:3306/wxbot_bench").partition("/")
_host, _, _port = _address.partition(":")
_redis = redis.Redis.from_url(os.environ.get("BENCH_FLOOR_REDIS", "redis://127.0.0.1:6379/0"))
_prefix = os.environ.get("BENCH_FLOOR_PREFIX", "floor:")
_local = threading.local()
app = Flask(__name__)
INSERT = "INSERT INTO floor_messages (dedupe_key, openid, content) VALUES (%s, %s, %s)"


def dedupe_key(message: Any) -> str:
    """MsgId for messages; sender, time, event, key and a report's MsgID for events (as wxbot does)."""
    if message.type != "event":
        return f"m:{message.id}"
    parts = (
        f"{message.source}|{message.create_time}|{message.event}|{getattr(message, 'key', '')}|{message.id}"
    )
    return "e:" + hashlib.sha256(parts.encode()).hexdigest()


def _connection() -> pymysql.Connection:  # type: ignore[type-arg]
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = pymysql.connect(
            host=_host,
            port=int(_port or 3306),
            user="root",
            database=_database,
            charset="utf8mb4",
            autocommit=True,
        )
    return connection


@app.post("/wechat/<name>")
def floor(name: str) -> Response:
    try:
        message = verified_message()
    except Refused:
        return Response("refused", status=403)
    key = dedupe_key(message)
    if _redis.set(f"{_prefix}{key}", "1", nx=True, ex=600):
        with _connection().cursor() as cursor:
            cursor.execute(INSERT, (key, message.source, getattr(message, "content", "")))
    return echo(message)
