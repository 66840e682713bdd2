"""The sandbox WeChat, for development and tests only: a stand-in for WeChat on both sides of the bot.

- api.py: WeChat's API endpoints the project calls, with WeChat's checks and errcodes, error and latency
  injection, and a record of every call (over state.py, the sandbox's memory; rules.py, WeChat's data checks);
- callbacks.py: WeChat as the sender of deliveries to the bot's callback, signed and encrypted as WeChat does;
- web.py: both inside the main app when `[sandbox] enabled`, with a page to act as a follower.

It serves the tests, the benchmarks and `make run`. It uses wxbot.wechat (errcodes, delivery XML) and drives
wxbot.callback over HTTP; nothing outside the tests, the benchmarks and create_app() uses it."""

from __future__ import annotations

from wxbot.sandbox.api import create_sandbox_app
from wxbot.sandbox.rules import SandboxError
from wxbot.sandbox.state import Call, Delivered, Follower, SandboxState

__all__ = ["Call", "Delivered", "Follower", "SandboxError", "SandboxState", "create_sandbox_app"]
