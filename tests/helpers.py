"""Small helpers shared by tests."""

from __future__ import annotations

import json
import secrets
from typing import Any

from tests.conftest import PLATFORM_SECRET
from wxbot import clock
from wxbot.platform import sign


def platform_headers(method: str, path: str, raw: bytes, *, secret: str = PLATFORM_SECRET,
                     timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:  # fmt: skip
    """The headers the platform signs a request with (signature v2)."""
    ts = clock.timestamp() if timestamp is None else timestamp
    nonce = secrets.token_urlsafe(24) if nonce is None else nonce
    return {"X-Wxbot-Timestamp": str(ts), "X-Wxbot-Nonce": nonce,
            "X-Wxbot-Signature": sign(secret, ts, nonce, method, path, raw)}  # fmt: skip


def platform_post(client: Any, path: str, body: Any, *, secret: str = PLATFORM_SECRET, timestamp: int | None = None,
                  method: str = "POST", nonce: str | None = None) -> Any:  # fmt: skip
    """A request from the platform, signed as the platform signs it."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = platform_headers(method, path, raw, secret=secret, timestamp=timestamp, nonce=nonce)
    return client.open(path, method=method, data=raw, headers={**headers, "Content-Type": "application/json"})
