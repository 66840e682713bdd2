"""What the Prometheus metrics cost per callback: the same signed deliveries through the app, alternately
with the metrics counted and with every metric family replaced by a no-op, in one process (issue 17).

    .venv/bin/python bench/metrics_cost.py [--deliveries 400] [--rounds 5]

In process (Flask's test client, SQLite in a temporary directory, the in-process cache): the figure is the
CPU time per delivery of each kind of round, the median over the rounds, and the difference. Bounded: a fixed
number of deliveries; nothing leaves the process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import base_config  # noqa: E402
from tests.wechat_helpers import Follower  # noqa: E402
from wxbot import create_app, metrics  # noqa: E402
from wxbot.config import settings_from_dict  # noqa: E402
from wxbot.db import Base  # noqa: E402

FAMILIES = [name for name in dir(metrics) if name.isupper() and hasattr(getattr(metrics, name), "labels")]


class _NoOp:
    def labels(self, *args: object) -> _NoOp:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


def _round(client, deliveries: int) -> float:
    started = time.process_time()
    for _ in range(deliveries):
        assert Follower(client).send_text("帮助").status == 200
    return (time.process_time() - started) / deliveries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    real = {name: getattr(metrics, name) for name in FAMILIES}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings_from_dict(base_config(Path(tmp)), env={}))
        Base.metadata.create_all(app.extensions["wxbot"].engine)
        client = app.test_client()
        _round(client, 50)  # warm up
        counted, bare = [], []
        for _ in range(args.rounds):
            counted.append(_round(client, args.deliveries))
            for name in FAMILIES:
                setattr(metrics, name, _NoOp())
            bare.append(_round(client, args.deliveries))
            for name, family in real.items():
                setattr(metrics, name, family)
    with_metrics, without = statistics.median(counted), statistics.median(bare)
    # and the metric operations one delivery makes, alone: its latency, its store, its handler
    started, n = time.perf_counter(), 100_000
    for _ in range(n):
        metrics.CALLBACK_SECONDS.labels("oa", "replied").observe(0.004)
        metrics.DELIVERIES_STORED.labels("oa").inc()
        metrics.ROUTER_RULE_HITS.labels("help_text").inc()
    alone = (time.perf_counter() - started) / n
    print(
        f"CPU per delivery, median of {args.rounds} rounds of {args.deliveries} (families: {len(FAMILIES)}):"
    )
    print(f"  with metrics:    {with_metrics * 1e3:.3f} ms")
    print(f"  without metrics: {without * 1e3:.3f} ms")
    print(
        f"  difference: {(with_metrics - without) * 1e6:.0f} µs ({(with_metrics / without - 1) * 100:+.1f} %)"
    )
    print(f"  the metric operations of one delivery, alone: {alone * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
