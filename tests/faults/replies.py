"""A router whose every answer is new (a counter), so a reply recomputed instead of repeated shows."""

from __future__ import annotations

import threading
from typing import Any

from wxbot.handlers import Router, TextReply


class NumberedReplies:
    def __init__(self) -> None:
        self.calls = 0
        self._mutex = threading.Lock()

    def __call__(self, ctx: Any) -> TextReply:
        with self._mutex:
            self.calls += 1
            return TextReply(f"answer {self.calls}")

    def install(self, app: Any) -> NumberedReplies:
        router = Router()
        router.default(self)
        app.extensions["wxbot"].router = router
        return self
