"""A MariaDB database of its own for a test that runs the migrations from an empty schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

needs_mariadb = pytest.mark.skipif(
    not os.environ.get("WXBOT_TEST_DATABASE_URL"), reason="MariaDB not configured"
)


@contextmanager
def empty_mariadb_database() -> Iterator[str]:
    """The URL of a new, empty database on WXBOT_TEST_DATABASE_URL's server, dropped afterwards."""
    server_url = os.environ["WXBOT_TEST_DATABASE_URL"]
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"wxbot_mig_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    base, _, query = server_url.partition("?")
    try:
        yield f"{base.rstrip('/')}/{name}?{query or 'charset=utf8mb4'}"
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()
