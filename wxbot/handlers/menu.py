"""The demo menu: its click keys (answered in wxbot.handlers.basic) and the definition WeChat's
menu/create takes."""

from __future__ import annotations

from typing import Any

JOBS = "JOBS"
HELP = "HELP"
ABOUT = "ABOUT"
LEAVE_MESSAGE = "LEAVE_MESSAGE"

DEMO_MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "最新职位", "key": JOBS},
        {
            "name": "帮助",
            "sub_button": [
                {"type": "click", "name": "使用帮助", "key": HELP},
                {"type": "click", "name": "留言给客服", "key": LEAVE_MESSAGE},
            ],
        },
        {"type": "click", "name": "关于我们", "key": ABOUT},
    ]
}
