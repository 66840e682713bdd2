"""The menu's click keys that the handlers answer (wxbot.handlers.basic, .conversations). The menu itself is
configuration: `[[wechat.official.menu]]` (wxbot.config.menus), sent to WeChat by `wxbot menu sync`."""

from __future__ import annotations

JOBS = "JOBS"
HELP = "HELP"
ABOUT = "ABOUT"
LEAVE_MESSAGE = "LEAVE_MESSAGE"
