"""Engine, sessions and the declarative Base. Migrations live in wxbot/migrations (Alembic)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

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
    return create_engine(
        url,
        echo=echo,
        # Statement parameters hold what people wrote; they must not reach tracebacks in the logs.
        hide_parameters=True,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_size=10,
        max_overflow=20,
        isolation_level="READ COMMITTED",
    )


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


# MySQL/MariaDB's answers to a transaction that only met another one's locks: 1213 (deadlock: this one was
# rolled back) and 1205 (lock wait timeout: the statement failed). Run again, it normally goes through.
LOCK_CONFLICTS = frozenset({1213, 1205})


def lock_conflict(exc: BaseException) -> int | None:
    """The error code when `exc` is a lock conflict, else None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    code = orig.args[0] if orig is not None and orig.args else None
    return code if code in LOCK_CONFLICTS else None


def retry_on_lock_conflict(work: Callable[[], T], *, attempts: int = 3, pause: float = 0.02) -> T:
    """`work` (a whole transaction, its session opened and closed inside) run again after a lock conflict,
    up to `attempts` times in all, after a random pause that grows with each attempt (so the transactions
    that met do not meet again in step). Other errors, and the last attempt's, go up."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            code = lock_conflict(exc)
            if code is None or attempt == attempts:
                raise
            log.warning(
                "transaction run again after lock conflict %d (attempt %d of %d)", code, attempt, attempts
            )
            time.sleep(pause * attempt * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
