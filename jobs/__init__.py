"""Scheduled jobs (APScheduler 3). Each job is a function job(services) -> None.

Embedded default: the scheduler runs inside the web process. Production: `wxbot jobs` runs it as its own
process, any number of them; a job marked singleton takes a lock in the shared cache so that only one
process runs it at a time.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from wxbot import metrics
from wxbot.config import Settings
from wxbot.logs import request_id
from wxbot.services import Services, build_services

log = logging.getLogger(__name__)
NOTED_RUN_SECONDS = 1.0  # a singleton's run this long is logged at INFO (quicker ones at DEBUG)


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[Services], Any]
    seconds: float  # interval
    singleton: bool = True  # at most one process runs it at a time


def registered_jobs() -> list[Job]:
    """Every job of the project; each module that owns jobs adds them here."""
    from jobs import unionid
    from jobs.campus import send_event_reminders
    from jobs.cancellations import run_cancellations
    from jobs.interceptions import INTERVAL_SECONDS as INTERCEPTIONS_SECONDS
    from jobs.interceptions import check_interceptions
    from jobs.media import INTERVAL_SECONDS as MEDIA_SECONDS
    from jobs.media import fetch_media
    from jobs.phone_quota import INTERVAL_SECONDS as PHONE_QUOTA_SECONDS
    from jobs.phone_quota import check_phone_quota
    from jobs.quota import QUOTA_SECONDS, sample_quotas
    from jobs.retention import run_retention
    from jobs.sender import JOB_SECONDS, sender_job

    return [
        Job("retention", run_retention, seconds=3600),
        Job("cancellations", run_cancellations, seconds=600),
        # Not a singleton: on MySQL/MariaDB every jobs process sends (SKIP LOCKED shares the queue out).
        Job("push-sender", sender_job, seconds=JOB_SECONDS, singleton=False),
        Job("unionid", unionid.fetch_unionids, unionid.INTERVAL_SECONDS),
        Job("ticket-media", fetch_media, MEDIA_SECONDS),
        Job("event-reminders", send_event_reminders, seconds=300),
        Job("quota", sample_quotas, seconds=QUOTA_SECONDS),
        Job("template-interceptions", check_interceptions, seconds=INTERCEPTIONS_SECONDS),
        Job("phone-quota", check_phone_quota, seconds=PHONE_QUOTA_SECONDS),
    ]


def _guarded(services: Services, job: Job) -> Callable[[], None]:
    def run() -> None:
        token = None
        if job.singleton:
            token = services.cache.try_lock(f"job:{job.name}", ttl=max(job.seconds * 10, 60))
            if token is None:
                metrics.JOB_RUNS.labels(job.name, "skipped").inc()  # another process runs it
                return
        began, started, result = time.time(), time.perf_counter(), "failed"
        # on each log line of the run; no "name:value" in it, which the log's masking would take for an id
        run_id = request_id.set(f"job-{job.name}-{uuid.uuid4().hex[:12]}")
        try:
            job.func(services)
            result = "ok"
        except Exception:
            log.exception("job %s failed", job.name)
        finally:
            seconds = time.perf_counter() - started
            if token is not None:  # a singleton's run, where and when: which process ran it, one at a time
                at = datetime.fromtimestamp(began, UTC).isoformat(timespec="milliseconds")
                # a run that did some work is worth a line; the quick ones come every 20 s
                level = logging.INFO if seconds >= NOTED_RUN_SECONDS else logging.DEBUG
                log.log(level, "job %s %s: %.3f s from %s", job.name, result, seconds, at)
            request_id.reset(run_id)
            metrics.JOB_RUNS.labels(job.name, result).inc()
            metrics.JOB_SECONDS.labels(job.name).observe(seconds)
            if token is not None:
                services.cache.release(f"job:{job.name}", token)

    return run


def build_scheduler(services: Services, jobs: list[Job] | None = None) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in registered_jobs() if jobs is None else jobs:
        scheduler.add_job(
            _guarded(services, job),
            "interval",
            seconds=job.seconds,
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
        )
    return scheduler


_embedded_lock = threading.Lock()
_embedded: tuple[int, BackgroundScheduler] | None = None  # (pid, scheduler): threads don't survive a fork


def start_embedded(services: Services) -> BackgroundScheduler | None:
    """Run the jobs inside this process (the laptop setup), once per process: None when already running."""
    global _embedded
    with _embedded_lock:
        if _embedded is not None and _embedded[0] == os.getpid():
            return None
        scheduler = build_scheduler(services)
        scheduler.start()
        if _embedded is None:
            atexit.register(stop_embedded)
        _embedded = (os.getpid(), scheduler)
    log.info("embedded scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler


def stop_embedded() -> None:
    global _embedded
    with _embedded_lock:
        if _embedded is not None and _embedded[0] == os.getpid():
            _embedded[1].shutdown(wait=False)
        _embedded = None


def run_forever(settings: Settings, metrics_bind: str | None = None) -> None:
    """The jobs process: the scheduler, and its metrics on `metrics_bind` (default `[metrics] jobs_bind`;
    empty: none)."""
    from wxbot.logs import setup_logging
    from wxbot.metrics_state import StateCollector

    setup_logging(settings.app.log_format, settings.app.log_level)
    services = build_services(settings)
    bind = settings.metrics.jobs_bind if metrics_bind is None else metrics_bind
    if bind:
        try:
            host, port = metrics.serve(bind, StateCollector(services))
            log.info("jobs metrics on http://%s:%d/metrics", host, port)
        except OSError as exc:  # the jobs go on; their metrics need a bind of their own
            log.error("jobs metrics not served on %s (%s): another jobs process on this host? give each its "
                      "own with `wxbot jobs --metrics-bind 127.0.0.1:<port>`", bind, exc.strerror)  # fmt: skip
    scheduler = build_scheduler(services)
    scheduler.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("jobs process started with %d jobs", len(scheduler.get_jobs()))
    stop.wait()
    scheduler.shutdown(wait=True)
