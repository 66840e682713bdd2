"""Small helpers shared by tests."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import PLATFORM_SECRET
from wxbot import clock
from wxbot.platform import sign


def platform_post(client: Any, path: str, body: Any, *, secret: str = PLATFORM_SECRET, timestamp: int | None = None,
                  method: str = "POST") -> Any:  # fmt: skip
    """A request from the platform, signed as the platform signs it."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    ts = clock.timestamp() if timestamp is None else timestamp
    headers = {"X-Wxbot-Timestamp": str(ts), "X-Wxbot-Signature": sign(secret, ts, raw),
               "Content-Type": "application/json"}  # fmt: skip
    return client.open(path, method=method, data=raw, headers=headers)
