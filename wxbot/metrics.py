"""Prometheus metrics: every family the project counts, defined once, counted where the thing happens.

A leaf (prometheus_client only), so that every layer may count, the WeChat client included. Labels are
bounded: app names and appids from the config, endpoint paths of WeChat's API, errcodes, job and handler
names from the code; never an openid, a message or a URL with a token.

Processes: under gunicorn `wxbot serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start, so every
worker writes its values to files there and a scrape of any worker sums them all (prometheus_client's
multiprocess mode). A `wxbot jobs` process serves its own on `[metrics] jobs_bind`. What is state rather than
events (outbox depth, conversations, app health, the sampled quota) is read from the database and the cache at
scrape time by wxbot.metrics_state, the same whichever process answers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, Metric, disable_created_metrics
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# No <name>_created gauge beside each labelled counter and histogram: it doubles the series a scrape
# carries, and the multiprocess mode (gunicorn) has none anyway, so both modes expose the same families.
disable_created_metrics()

# Callback answers within WeChat's 5 s: the buckets resolve that range, and the retries WeChat makes after it.
_CALLBACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0)
_WECHAT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_JOB_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)

# ------------------------------------------------------------------ the callback
CALLBACK_SECONDS = Histogram(
    "wxbot_callback_seconds",
    "Time to answer a WeChat delivery, by official account and outcome (replied, success: nothing to say, "
    "retried_copy: a repeat answered as before, unavailable: 503, refused_<status>: 4xx, error: 500)",
    ["app", "outcome"],
    buckets=_CALLBACK_BUCKETS,
)
DELIVERIES_STORED = Counter("wxbot_deliveries_stored_total", "Deliveries stored (the first copy)", ["app"])
DUPLICATE_DELIVERIES = Counter(
    "wxbot_duplicate_deliveries_total",
    "Repeated copies of a stored delivery, answered as before",
    ["app", "via"],
)
ROUTER_RULE_HITS = Counter("wxbot_router_rule_hits_total", "Deliveries answered by each handler", ["handler"])
HANDLER_ERRORS = Counter(
    "wxbot_handler_errors_total", "Handlers that failed (answered with an apology)", ["handler"]
)

# ------------------------------------------------------------------ WeChat's API
WECHAT_CALLS = Counter(
    "wxbot_wechat_api_calls_total",
    "Calls to WeChat's API by endpoint and errcode (0: success; 'unavailable': no usable answer)",
    ["endpoint", "errcode"],
)
WECHAT_SECONDS = Histogram(
    "wxbot_wechat_api_seconds", "Latency of WeChat's API by endpoint", ["endpoint"], buckets=_WECHAT_BUCKETS
)
TOKEN_FETCHES = Counter("wxbot_token_fetches_total", "Access tokens fetched from WeChat", ["appid", "result"])
TOKEN_INVALIDATIONS = Counter(
    "wxbot_token_invalidations_total", "Access tokens dropped after WeChat refused them", ["appid"]
)

# ------------------------------------------------------------------ the outbox
SENDS = Counter(
    "wxbot_sends_total",
    "Outbox sends by channel and result (sent, retry, failed, unknown, paused, ...)",
    ["channel", "result"],
)
PUSHES_HELD = Counter(
    "wxbot_pushes_held_total",
    "Pushes not sent now by the policy: quiet_hours (held), cap (daily cap reached), superseded",
    ["reason"],
)

# ------------------------------------------------------------------ jobs
JOB_RUNS = Counter(
    "wxbot_job_runs_total", "Job runs by job and result (ok, failed, skipped: lock held)", ["job", "result"]
)
JOB_SECONDS = Histogram("wxbot_job_seconds", "Duration of job runs", ["job"], buckets=_JOB_BUCKETS)


UNAVAILABLE = "unavailable"  # the errcode label of a call without WeChat's answer


def wechat_call(endpoint: str, errcode: str, seconds: float) -> None:
    WECHAT_CALLS.labels(endpoint, errcode).inc()
    WECHAT_SECONDS.labels(endpoint).observe(seconds)


def endpoint_label(path: str) -> str:
    """A WeChat API path as a label: without its query and host, bounded in length."""
    return path.split("?", 1)[0][:64]


def prepare_multiprocess_dir(var_dir: str, bind: str) -> str:
    """The directory the web workers of the instance on `bind` share, emptied of a previous run's values
    (PROMETHEUS_MULTIPROC_DIR when the environment names one)."""
    directory = Path(
        os.environ.get(MULTIPROCESS_ENV) or Path(var_dir) / "metrics" / re.sub(r"[^\w.-]", "_", bind)
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return str(directory)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def registry_of(*collectors: Collector) -> CollectorRegistry:
    """What a scrape renders: the counted events (every worker's files under gunicorn, else this process's
    own registry) and `collectors` (the state read at scrape time)."""
    from prometheus_client import REGISTRY

    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is None:
        registry.register(_Registered(REGISTRY))
    else:
        _multiprocess.MultiProcessCollector(registry, path=directory)
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(*collectors: Collector) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(registry_of(*collectors))


def serve(bind: str, *collectors: Collector) -> tuple[str, int]:
    """Serve /metrics on `bind` (host:port) from a thread of this process (a `wxbot jobs` process); the
    address it listens on (port 0 picks a free one)."""
    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    server, _thread = start_http_server(
        int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry_of(*collectors)
    )
    address = server.server_address
    return str(address[0]), int(address[1])


class _Registered(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
