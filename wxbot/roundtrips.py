"""Round trips to the database and to Redis, counted: what the callback benchmark prints per delivery and
what tests hold the callback to.

The database's are counted through SQLAlchemy's event hooks: every statement the engine sends (savepoints
included), every COMMIT and ROLLBACK, the pool's pre-ping at checkout when it is on, and the pool's
rollback on return when one is sent (wxbot.db sends it only for a transaction left open). Redis's are counted where the client writes
to its socket: a pipeline or a script is one round trip, as on the wire. Connecting is not counted (a pooled
connection is set up once, not per request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis.connection
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool.base import reset_none

from wxbot.db import transaction_open


@dataclass
class RoundTrips:
    database: int = 0
    redis: int = 0


@contextmanager
def counted(engine: Engine | None = None) -> Iterator[RoundTrips]:
    """Count the round trips made to `engine`'s database (when given) and to any Redis while the block runs."""
    trips = RoundTrips()

    def statement(*_args: Any, **_kwargs: Any) -> None:
        trips.database += 1

    def checkout(*_args: Any) -> None:
        if engine is not None and engine.pool._pre_ping:  # one PING before the connection is handed out
            trips.database += 1

    def reset(_dbapi_connection: Any, record: Any, state: Any) -> None:
        # the pool's own reset rolls back unless the Connection ended the transaction; wxbot.db's (run after
        # this hook) only when the connection's record says a transaction is open
        if state.transaction_was_reset or state.terminate_only:
            return
        if engine is not None and engine.pool._reset_on_return is reset_none and not transaction_open(record):
            return
        trips.database += 1

    def sent(self: Any, command: Any, check_health: bool = True) -> None:
        trips.redis += 1
        original(self, command, check_health)

    hooks: list[tuple[Any, str, Any]] = []
    if engine is not None:
        hooks += [
            (engine, "before_cursor_execute", statement),
            (engine, "commit", statement),
            (engine, "rollback", statement),
            (engine.pool, "checkout", checkout),
            (engine.pool, "reset", reset),
        ]
    for target, name, hook in hooks:
        event.listen(target, name, hook, insert=True)  # before wxbot.db's reset
    original = redis.connection.AbstractConnection.send_packed_command
    redis.connection.AbstractConnection.send_packed_command = sent  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
        for target, name, hook in hooks:
            event.remove(target, name, hook)
