"""Engine, sessions and the declarative Base. Migrations live in wxbot/migrations (Alembic)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import PoolResetState

log = logging.getLogger(__name__)

T = TypeVar("T")

# MySQL/MariaDB errors after which the transaction was rolled back and can simply run again
DEADLOCK = 1213
LOCK_WAIT_TIMEOUT = 1205
# can't connect (2003: a server restarting), server gone away (2006), lost connection mid-query (2013)
CONNECTION_LOST = (2003, 2006, 2013)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# the pool's record of a connection: whether a transaction begun through SQLAlchemy is still open on it
_OPEN = "wxbot.transaction_open"


def transaction_open(connection_record: Any) -> bool:
    """Whether a transaction is open on the pooled connection; True when unknown (never tracked)."""
    return bool(connection_record.info.get(_OPEN, True))


def _track_transactions(engine: Engine) -> None:
    """The pool's reset on return, without its round trip after every committed session: a Session that
    committed closes a Connection whose transaction is over, and the pool's default would still send a
    ROLLBACK. Each connection's record says whether a transaction is open; only one left open is rolled
    back on return."""

    def began(conn: Any) -> None:
        conn.connection.info[_OPEN] = True

    def ended(conn: Any) -> None:
        conn.connection.info[_OPEN] = False

    def reset(dbapi_connection: Any, connection_record: Any, state: PoolResetState) -> None:
        # (a connection about to be closed needs none: the server rolls back what a closed one left open)
        if (
            not state.transaction_was_reset
            and not state.terminate_only
            and transaction_open(connection_record)
        ):
            dbapi_connection.rollback()
        connection_record.info[_OPEN] = False

    event.listen(engine, "begin", began)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    event.listen(engine, "reset", reset)


# Connection.info: what to run before the connection's next statement (before_next_statement)
_BEFORE_NEXT = "wxbot.before_next_statement"


def before_next_statement(connection: Connection, work: Callable[[], object] | None) -> None:
    """Run `work` once, just before the next statement sent on `connection` (statements `work` sends do
    not wait for it); None forgets it. One listener on the engine, not one added per use: adding and
    removing an event listener costs more than the statement it guards."""
    if work is None:
        connection.info.pop(_BEFORE_NEXT, None)
    else:
        connection.info[_BEFORE_NEXT] = work


def _run_before_next(connection: Connection, *_args: Any) -> None:
    work = connection.info.pop(_BEFORE_NEXT, None)
    if work is not None:
        work()


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_reset_on_return=None,
        )
        _track_transactions(engine)
        event.listen(engine, "before_execute", _run_before_next)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # pysqlite's own transaction handling off, so the BEGIN IMMEDIATE below is the one that counts
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn):
            # One writer at a time, decided at BEGIN: avoids lock upgrades that fail under concurrency.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(
        url,
        echo=echo,
        # Statement parameters hold what people wrote; they must not reach tracebacks in the logs.
        hide_parameters=True,
        # No ping before every checkout (a round trip per request): connections are replaced well before the
        # server's wait_timeout (8 hours by default), and a connection that went stale anyway (the server
        # restarted) fails its first statement, which invalidates the pool's older connections; the
        # callback's transaction then runs again on a fresh one (retry_transaction, is_transient).
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        pool_reset_on_return=None,
        isolation_level="READ COMMITTED",
    )
    _track_transactions(engine)
    event.listen(engine, "before_execute", _run_before_next)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_mysql(session: Session) -> bool:
    return session.get_bind().dialect.name in ("mysql", "mariadb")


def error_code(exc: DBAPIError) -> int | None:
    """The driver's error number (MySQL/MariaDB), if it gave one."""
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code if isinstance(code, int) else None


def is_deadlock(exc: DBAPIError) -> bool:
    return error_code(exc) == DEADLOCK


def is_lock_conflict(exc: DBAPIError) -> bool:
    """Only another transaction's locks stood in the way (deadlock: this one was rolled back; lock wait
    timeout: the statement failed). Run again, it normally goes through."""
    return error_code(exc) in (DEADLOCK, LOCK_WAIT_TIMEOUT)


def is_transient(exc: DBAPIError) -> bool:
    """A deadlock, a lock wait timeout or a lost connection (MySQL/MariaDB), or a busy SQLite."""
    code = error_code(exc)
    return (
        code in (DEADLOCK, LOCK_WAIT_TIMEOUT, *CONNECTION_LOST)
        or exc.connection_invalidated  # the driver said the connection is gone, in its own words
        or "database is locked" in str(exc.orig)
    )


def retry_transaction(
    work: Callable[[], T],
    *,
    retry_on: Callable[[DBAPIError], bool] = is_transient,
    session: Session | None = None,
    attempts: int = 3,
) -> T:
    """Run the transaction `work` again, after a short pause, when it fails with an error `retry_on` accepts;
    at most `attempts` times. `work` opens its own session, or uses `session`, which is then rolled back
    after every failure (the failed transaction is over either way)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if session is not None:
                session.rollback()
            if attempt == attempts or not retry_on(exc):
                raise
            log.warning(
                "transaction run again after error %s (attempt %d of %d)", error_code(exc), attempt, attempts
            )
            # a random pause that grows, so the transactions that met do not meet again in step
            time.sleep(0.05 * attempt * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
