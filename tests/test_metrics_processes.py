"""Metrics from the processes an operator runs: gunicorn's workers summed in one scrape (multiprocess mode),
and each `wxbot jobs` process on its own bind."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import base_config
from tests.faults.http_follower import HttpFollower
from tests.process_helpers import environment, free_port, running, upgrade
from wxbot import create_app
from wxbot.config import settings_from_dict

pytestmark = pytest.mark.slow

TOKEN = "metrics-bearer-token-for-the-tests-0123456789"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_one_scrape_sums_every_gunicorn_worker(tmp_path):
    raw = base_config(tmp_path)
    raw["metrics"] = {"token": TOKEN}
    env = environment(tmp_path, raw)
    upgrade(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "1"]
    with running(args, env, f"{base}/healthz", tmp_path / "serve.log"):
        app = create_app(settings_from_dict(raw, env={}))

        def deliver(_: int) -> int:
            with requests.Session() as http:
                return HttpFollower(app, base, http).send_text("帮助").status

        with ThreadPoolExecutor(12) as pool:
            assert list(pool.map(deliver, range(36))) == [200] * 36
        headers = {"Authorization": f"Bearer {TOKEN}"}
        scrapes = [
            samples(requests.get(f"{base}/metrics", headers=headers, timeout=10).text) for _ in range(6)
        ]
    stored = {s.get(("wxbot_deliveries_stored_total", frozenset({("app", "oa")}))) for s in scrapes}
    assert stored == {36.0}  # whichever worker answered the scrape
    workers = {p.name for p in (tmp_path / "var" / "metrics").rglob("counter_*.db")}
    assert len(workers) >= 2, f"one worker took every request ({workers}): the sum was not shown"


def test_each_jobs_process_serves_its_metrics_on_its_own_bind(tmp_path):
    raw = base_config(tmp_path)
    env = environment(tmp_path, raw)
    upgrade(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    runs = ("wxbot_job_runs_total", frozenset({("job", "push-sender"), ("result", "ok")}))
    with running(["jobs", "--metrics-bind", f"127.0.0.1:{port}"], env, url, tmp_path / "jobs.log"):
        deadline = time.monotonic() + 60
        while runs not in (found := samples(requests.get(url, timeout=10).text)):
            assert time.monotonic() < deadline, "the sender never ran"
            time.sleep(0.5)
    assert found[runs] >= 1
    assert found[("wxbot_state_up", frozenset())] == 1
    assert ("wxbot_outbox_oldest_due_seconds", frozenset()) in found
