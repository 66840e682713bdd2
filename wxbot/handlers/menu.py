"""The demo menu: its click keys (answered in wxbot.handlers.basic) and the definition WeChat's
menu/create takes."""

from __future__ import annotations

from typing import Any

JOBS = "JOBS"
HELP = "HELP"
ABOUT = "ABOUT"

DEMO_MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "最新职位", "key": JOBS},
        {"type": "click", "name": "使用帮助", "key": HELP},
        {"type": "click", "name": "关于我们", "key": ABOUT},
    ]
}
