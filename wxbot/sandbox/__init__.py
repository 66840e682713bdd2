"""The sandbox WeChat: the WeChat API endpoints the project calls, with WeChat's checks and error codes, error and
latency injection, and a record of every call. It serves the tests, the benchmarks and `make run`."""

from __future__ import annotations

from wxbot.sandbox.app import create_sandbox_app
from wxbot.sandbox.rules import SandboxError
from wxbot.sandbox.state import Call, Delivered, Follower, SandboxState

__all__ = ["Call", "Delivered", "Follower", "SandboxError", "SandboxState", "create_sandbox_app"]
