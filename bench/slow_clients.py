"""Slow clients with and without deploy/'s nginx in front (issue 18, "Behind a buffering proxy").

Starts `wxbot serve --behind-proxy --workers 3 --threads 4` (SQLite, loopback), opens N connections that
trickle their requests (half in the headers, half in a body that never finishes), then sends signed
deliveries one after another and counts those answered within WeChat's 5 s: first straight at gunicorn,
then through nginx running deploy/nginx/wxbot.conf (ports and certificate changed, nothing else).

    .venv/bin/python bench/slow_clients.py [--slow 24] [--deliveries 10]

Bounded: a fixed number of deliveries, each waited for 5 s at most; loopback only; free ports; a temporary
directory. Needs nginx (apt-get install nginx-light).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import urllib3  # noqa: E402

from tests.test_slow_clients import DeadlineFollower, Trickle, nginx_site, serving  # noqa: E402


def answered_in_time(app, base: str, port: int, *, tls: bool, slow: int, deliveries: int) -> int:
    stop = threading.Event()
    clients = [Trickle(port, body=i % 2 == 1, stop=stop, tls=tls) for i in range(slow)]
    for client in clients:
        client.start()
    try:
        for client in clients:
            client.connected.wait(10)
        time.sleep(1)  # a trickled byte or two each: the server has taken them up
        answered = 0
        with requests.Session() as http:
            for _ in range(deliveries):
                with suppress(requests.RequestException):  # not answered within 5 s
                    answered += DeadlineFollower(app, base, http).send_text("帮助").status == 200
        return answered
    finally:
        stop.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", type=int, default=24)
    parser.add_argument("--deliveries", type=int, default=10)
    args = parser.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with serving(directory) as (upstream, app):
            direct = answered_in_time(app, f"http://127.0.0.1:{upstream}", upstream, tls=False,
                                      slow=args.slow, deliveries=args.deliveries)  # fmt: skip
        (directory / "again").mkdir()
        with (
            serving(directory / "again") as (upstream, app),
            nginx_site(directory / "nginx", upstream) as base,
        ):
            port = int(base.rpartition(":")[2])
            proxied = answered_in_time(app, base, port, tls=True, slow=args.slow, deliveries=args.deliveries)
    print(f"{args.slow} slow clients, 3 workers x 4 threads; deliveries answered within 5 s:")
    print(f"  straight at gunicorn: {direct} of {args.deliveries}")
    print(f"  through deploy/'s nginx: {proxied} of {args.deliveries}")


if __name__ == "__main__":
    main()
