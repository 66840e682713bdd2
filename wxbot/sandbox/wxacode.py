"""The sandbox's wxa/getwxacodeunlimit: WeChat's checks on a mini-program code request, and a real, scannable
QR image of what the code opens (WeChat draws its round 小程序码; a square QR code serves the demo).

A page must be published (publish()) unless the request says check_path=false: otherwise 41030, as WeChat
answers for a page the released version lacks. The scene: 1 to 32 visible characters of WeChat's set (40097
otherwise). At most 5,000 codes a minute per mini program (45009 beyond, as WeChat answers).
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from typing import Any

import segno

from wxbot import clock
from wxbot.sandbox.rules import SandboxError
from wxbot.wechat import errors

SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@._~-]{1,32}")
PER_MINUTE = 5000
ENV_VERSIONS = ("release", "trial", "develop")


@dataclass(frozen=True)
class Drawn:
    appid: str
    scene: str
    page: str
    png: bytes


def opened_by(appid: str, page: str, scene: str) -> str:
    """What the sandbox's code encodes: the mini program, its page and the scene (what a scan opens)."""
    return f"wxapp://{appid}/{page}?scene={scene}"


class WxaCodes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._published: dict[str, set[str]] = {}
            self._minutes: dict[tuple[str, int], int] = {}
            self.drawn: list[Drawn] = []

    def publish(self, appid: str, page: str) -> None:
        """The mini program's released version has `page`."""
        with self._lock:
            self._published.setdefault(appid, set()).add(page)

    def draw(self, appid: str, body: dict[str, Any]) -> bytes:
        scene, page = body.get("scene"), body.get("page", "pages/index/index")
        if not isinstance(scene, str) or not SCENE.fullmatch(scene):
            raise SandboxError(errors.ARGS_INVALID, "invalid args: scene must be 1 to 32 visible characters")
        if not isinstance(page, str) or page.startswith("/") or not page:
            raise SandboxError(errors.WXA_PAGE_INVALID, "invalid page")
        width = body.get("width", 430)
        if not isinstance(width, int) or not 280 <= width <= 1280:
            raise SandboxError(errors.ARGS_INVALID, "invalid args: width must be 280 to 1280")
        if body.get("env_version", "release") not in ENV_VERSIONS:
            raise SandboxError(errors.ARGS_INVALID, "invalid args: env_version")
        with self._lock:
            if body.get("check_path", True) is not False and page not in self._published.get(appid, set()):
                raise SandboxError(errors.WXA_PAGE_INVALID, "invalid page: not published")
            minute = (appid, clock.timestamp() // 60)
            self._minutes[minute] = self._minutes.get(minute, 0) + 1
            if self._minutes[minute] > PER_MINUTE:
                raise SandboxError(errors.DAILY_QUOTA, "reach max api daily quota limit")
        image = io.BytesIO()
        segno.make(opened_by(appid, page, scene), error="m").save(
            image, kind="png", scale=max(width // 60, 2)
        )
        png = image.getvalue()
        with self._lock:
            self.drawn.append(Drawn(appid, scene, page, png))
        return png
