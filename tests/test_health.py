"""/healthz (the process answers) and /readyz (database, Redis and schema ready, else 503 saying what is not)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from alembic import command

from tests.conftest import base_config
from wxbot import create_app
from wxbot.config import settings_from_dict
from wxbot.db import Base
from wxbot.migrate import alembic_config, heads, upgrade


def _stamp_head(url: str) -> None:
    # The fixtures build the tables from the models (test_migrations proves the migrations build the same).
    command.stamp(alembic_config(url), "head")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when this returns: nothing listens there


def _client(tmp_path, **changes):
    raw = base_config(tmp_path)
    for section, values in changes.items():
        raw[section].update(values)
    app = create_app(settings_from_dict(raw, env={}))
    return app, app.test_client()


def test_healthz_says_the_process_answers_whatever_the_database(tmp_path):
    _, client = _client(tmp_path, database={"url": f"mysql+pymysql://root@127.0.0.1:{_closed_port()}/x"})
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_ready_when_database_redis_and_schema_answer(app, client, settings):
    _stamp_head(settings.database.url)
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_not_ready_before_the_first_migration(tmp_path):
    app, client = _client(tmp_path)
    Base.metadata.create_all(app.extensions["wxbot"].engine)  # the tables, but no revision recorded
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["database"] == "schema not migrated: run `wxbot db upgrade`"


def test_not_ready_on_an_older_schema(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "6aedb35d191c")
    _, client = _client(tmp_path, database={"url": url})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    finding = answer.get_json()["checks"]["database"]
    assert finding.startswith("schema at 6aedb35d191c, the code expects ")
    assert all(head in finding for head in heads())


def test_not_ready_when_redis_is_stopped(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    upgrade(url)
    _, client = _client(
        tmp_path, database={"url": url}, redis={"url": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "unavailable (ConnectionError)"},
    }


def test_not_ready_when_the_database_is_stopped(tmp_path):
    url = f"mysql+pymysql://root@127.0.0.1:{_closed_port()}/wxbot"
    _, client = _client(tmp_path, database={"url": url})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {"database": "unavailable (error 2003)", "redis": "ok"}


def test_a_hung_database_is_reported_after_the_short_timeout_not_waited_for(tmp_path, silent_port):
    # pymysql would wait 10 s for the server's greeting; readiness answers after its own timeout
    _, client = _client(tmp_path, database={"url": f"mysql+pymysql://root@127.0.0.1:{silent_port}/wxbot"})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["database"] == "no answer within 2 s"


def test_a_hung_redis_is_reported_not_waited_for(tmp_path, silent_port):
    url = f"sqlite:///{tmp_path}/h.db"
    upgrade(url)
    _, client = _client(tmp_path, database={"url": url}, redis={"url": f"redis://127.0.0.1:{silent_port}/0"})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {"database": "ok", "redis": "unavailable (TimeoutError)"}
