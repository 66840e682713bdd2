"""The Alembic migrations build exactly the tables the models describe, on SQLite and MariaDB."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import wxbot.models  # noqa: F401
from tests.migration_helpers import empty_mariadb_database, needs_mariadb
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


@needs_mariadb
def test_migrations_match_models_on_mariadb():
    with empty_mariadb_database() as url:
        _assert_no_drift(url)
