"""Alembic, driven from code: `wxbot db upgrade` and the migration test use these.

`media_dir` is where media files were kept before they moved into the database (`[app] var_dir`/media): the
migration that moves them reads it (and writes it back on downgrade); without one, no file is found.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, media_dir: Path | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["media_dir"] = media_dir
    return cfg


def upgrade(url: str, revision: str = "head", *, media_dir: Path | None = None) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url, media_dir), revision)


def autogenerate(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)


@functools.cache
def heads() -> frozenset[str]:
    """The revisions the code expects the database at (read once: the scripts don't change in a process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def applied(connection: Connection) -> frozenset[str]:
    """The revisions the database says it is at (none before the first `wxbot db upgrade`)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())
