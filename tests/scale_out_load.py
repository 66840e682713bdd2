"""The load generator of tests/test_scale_out.py, run inside its own network namespace (the third host).

A retry storm split across the web hosts: each message is delivered COPIES times at once, the copies
alternating between the hosts, as WeChat re-sends a delivery it had no answer to. Reads its settings and the
hosts from WXBOT_SCALE_OUT (JSON), prints one JSON line: per message the replies it got, per host the
answers it gave."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.http_follower import HttpFollower  # noqa: E402
from tests.wechat_helpers import new_openid, xml_of  # noqa: E402
from wxbot import create_app  # noqa: E402
from wxbot.config import settings_from_dict  # noqa: E402


def main() -> None:
    given = json.loads(os.environ["WXBOT_SCALE_OUT"])
    app = create_app(settings_from_dict(given["config"], env={}))
    hosts, copies = given["hosts"], given["copies"]
    answered: Counter[str] = Counter()
    http = requests.Session()
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def storm(n: int) -> tuple[int, list[str | None]]:
        followers = [HttpFollower(app, host, http) for host in hosts]
        openid = new_openid()
        for follower in followers:
            follower.openid = openid
        fields = followers[0].fields(MsgType="text", Content="帮助", MsgId=8_200_000_000_000_000_000 + n)
        xml = xml_of(fields)
        with ThreadPoolExecutor(copies) as pool:
            replies = list(pool.map(lambda k: (k, followers[k % len(hosts)].send(xml)), range(copies)))
        for k, reply in replies:
            answered[f"{hosts[k % len(hosts)]} {reply.status}"] += 1
        return n, [reply.content for _, reply in replies]

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = dict(pool.map(storm, range(given["messages"])))
    seconds = time.monotonic() - started
    print(json.dumps({"replies": results, "answered": answered, "seconds": seconds}, ensure_ascii=False))


if __name__ == "__main__":
    main()
