"""The Alembic migrations build exactly the tables the models describe, on SQLite and MariaDB."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import wxbot.models  # noqa: F401
from wxbot.db import Base
from wxbot.migrate import upgrade


def _assert_no_drift(url: str) -> None:
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ (run alembic autogenerate): {diff}"


def test_migrations_match_models_on_sqlite(tmp_path):
    _assert_no_drift(f"sqlite:///{tmp_path}/m.db")


@pytest.mark.skipif(not os.environ.get("WXBOT_TEST_DATABASE_URL"), reason="MariaDB not configured")
def test_migrations_match_models_on_mariadb():
    server_url = os.environ["WXBOT_TEST_DATABASE_URL"]
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"wxbot_mig_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    base, _, query = server_url.partition("?")
    try:
        _assert_no_drift(f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}")
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}")
