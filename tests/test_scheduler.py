"""The embedded scheduler: started by create_app() in the process that serves, once per process."""

from __future__ import annotations

import pytest

from jobs import registered_jobs, stop_embedded
from wxbot import create_app


@pytest.fixture
def embedded(config_dict):
    config_dict["scheduler"]["embedded"] = True
    yield
    stop_embedded()


def scheduler_of(app):
    return app.extensions["wxbot"].scheduler


def test_create_app_starts_the_scheduler_once_per_process(embedded, settings):
    first, second = create_app(settings), create_app(settings)

    scheduler = scheduler_of(first)
    assert scheduler is not None and scheduler.running
    assert {job.id for job in scheduler.get_jobs()} == {job.name for job in registered_jobs()}
    assert scheduler_of(second) is None


def test_no_scheduler_unless_embedded(app):
    assert scheduler_of(app) is None


def test_under_flask_run_the_scheduler_waits_for_the_serving_process(embedded, settings, monkeypatch):
    # `flask run` builds the app in the reloader's watcher too, which never serves a request.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    app = create_app(settings)
    assert scheduler_of(app) is None

    app.test_client().get("/healthz")
    assert scheduler_of(app).running
