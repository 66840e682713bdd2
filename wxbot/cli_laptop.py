"""What `wxbot serve` does for the laptop setup: the sandbox's and console's public URLs follow --bind when
they were the defaults, and the next steps are printed (what to open, how to create a console login)."""

from __future__ import annotations

from wxbot.config import Settings
from wxbot.config.schema import SandboxSettings

DEFAULT_URL = SandboxSettings().public_url  # http://127.0.0.1:8000, the embedded console's too


def bound_url(bind: str) -> str | None:
    """http://host:port for a host:port --bind (None for unix sockets and file descriptors)."""
    if bind.startswith(("unix:", "fd://")) or ":" not in bind:
        return None
    host, _, port = bind.rpartition(":")
    return f"http://{host or '127.0.0.1'}:{port}"


def following_urls(settings: Settings, bind: str) -> dict[str, str]:
    """WXBOT_* overrides for the served processes: each public URL still at its default follows --bind."""
    url = bound_url(bind)
    if url is None or url == DEFAULT_URL:
        return {}
    found = {}
    if settings.sandbox.enabled and settings.sandbox.public_url == DEFAULT_URL:
        found["WXBOT_SANDBOX_PUBLIC_URL"] = url
    if settings.console.public_url == DEFAULT_URL:
        found["WXBOT_CONSOLE_PUBLIC_URL"] = url
    return found


def next_steps(settings: Settings, bind: str) -> str | None:
    """What a developer does next with the sandbox served on `bind`; None outside the laptop setup."""
    url = bound_url(bind)
    if not settings.sandbox.enabled or url is None:
        return None
    return "\n".join((
        f"wxbot (development, sandbox WeChat) on {url}",
        f"  act as a follower of the demo official account:  {url}/sandbox",
        f"  the agents' console (留言):                       {url}/console",
        f"  the API documents (接口文档):                     {url}/docs",
        "  create a console login (in another terminal):     "
        "WXBOT_APP_ENVIRONMENT=development .venv/bin/wxbot agents create alice --role admin",
    ))  # fmt: skip
