"""The `wxbot` command: database migrations, the web service, the jobs process, and admin tasks."""

from __future__ import annotations

import os
import sys

import click

from wxbot.config import ConfigError, Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc


@click.group()
def main() -> None:
    """wxbot: the WeChat backend of the recruitment platform."""


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest."""
    from wxbot.migrate import upgrade

    settings = _settings()
    upgrade(settings.database.url)
    click.echo("database is up to date")


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option(
    "--workers", type=int, default=None, help="default: 1 with the embedded scheduler, else 2*cores+1"
)
@click.option("--threads", type=int, default=4, show_default=True)
def serve(bind: str, workers: int | None, threads: int) -> None:
    """Run the web service under gunicorn."""
    settings = _settings()
    if workers is None:
        # The in-process cache and scheduler belong to one process; production (Redis) scales out.
        workers = (
            1 if (settings.scheduler.embedded or not settings.redis.url) else (os.cpu_count() or 1) * 2 + 1
        )
    args = [
        "gunicorn",
        "--bind", bind,
        "--workers", str(workers),
        "--threads", str(threads),
        "--access-logfile", "-",
        "wsgi:app",
    ]  # fmt: skip
    os.execvp(sys.executable, [sys.executable, "-m", *args])  # noqa: S606  (replaces this process)


@main.command("jobs")
def jobs_command() -> None:
    """Run the scheduled jobs as their own process (production)."""
    from jobs import run_forever

    run_forever(_settings())
