"""Mini-program codes for events, asked for by the platform (signed like every /platform request).

POST /platform/events/<event_id>/code {"source"?: "poster batch 3", "miniprogram"?: name}: a new random scene
key bound to the event and the source, WeChat's getwxacodeunlimit for `[events] code_page` with that scene,
the image kept; answers the scene and the URL of the image (a signed GET, like this request). The mini program is
`[events] miniprogram` (or the first configured) unless named. At most `[events] codes_per_minute` a minute
per mini program (WeChat's 5,000): 429.
GET /platform/events/<event_id>/codes: scans and sign-ups per code (per source).
GET /platform/events/<event_id>/codes/<scene>/image: the code to print (PNG, or JPEG as WeChat drew it).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response

from wxbot import clock
from wxbot.campus import codes, views
from wxbot.config.schema import MiniProgram
from wxbot.platform import bp
from wxbot.web import abort_api, db, json_body, services
from wxbot.wechat.errors import DAILY_QUOTA, MINUTE_LIMIT, WXA_PAGE_INVALID, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)


def _miniprogram(name: object) -> MiniProgram:
    settings = services().settings
    if name is not None and not isinstance(name, str):
        abort_api(
            400, "invalid_field", "miniprogram: the name of a configured mini program", field="miniprogram"
        )
    chosen = name or settings.events.miniprogram
    mp = settings.miniprogram(chosen) if chosen else next(iter(settings.wechat.miniprogram), None)
    if mp is None:
        abort_api(400, "invalid_field", "miniprogram: no such mini program configured", field="miniprogram")
    return mp


def _spend(mp: MiniProgram) -> None:
    """WeChat allows 5,000 codes a minute per mini program: refused here before WeChat refuses."""
    minute = clock.timestamp() // 60
    used = services().cache.incr(f"wxacode:{mp.appid}:{minute}", ttl=120)
    if used > services().settings.events.codes_per_minute:
        abort_api(429, "rate_limited", "too many codes this minute; try again in a minute")


@bp.post("/events/<event_id>/code")
def create_event_code(event_id: str) -> tuple[dict[str, Any], int]:
    body = json_body()
    if not isinstance(body, dict):
        abort_api(400, "invalid_field", "body: a JSON object", field="body")
    source = codes.clean_source(body.get("source"))
    mp = _miniprogram(body.get("miniprogram"))
    events = services().settings.events
    session = db()
    event = codes.event_for_code(session, event_id)
    session.commit()  # no transaction open while WeChat draws (on SQLite a read holds the write lock)
    _spend(mp)
    scene = codes.new_scene()
    try:
        image = services().wechat.wxa_code(
            mp.name,
            scene,
            events.code_page,
            check_path=events.code_check_path,
            env_version=events.code_env_version,
        )
    except WeChatError as exc:
        if exc.errcode == WXA_PAGE_INVALID:
            log.error("wxacode refused app=%s: page %s is not published (41030)", mp.name, events.code_page)
            abort_api(409, "page_not_published", f"WeChat: the page {events.code_page} is not published "
                      "([events] code_page, or code_check_path = false for a trial version)",
                      errcode=exc.errcode)  # fmt: skip
        if exc.errcode in (MINUTE_LIMIT, DAILY_QUOTA):
            abort_api(429, "rate_limited", "WeChat's limit on codes; try again later", errcode=exc.errcode)
        abort_api(502, "wechat_error", f"WeChat refused with errcode {exc.errcode}", errcode=exc.errcode)
    except WeChatUnavailable:
        abort_api(502, "wechat_unavailable", "WeChat did not answer; try again")
    event = codes.event_for_code(session, event_id)
    code = codes.store(session, event=event, scene=scene, app_name=mp.name, source=source,
                       page=events.code_page, image=image)  # fmt: skip
    session.commit()
    return {
        "event_id": event.external_id,
        "scene": code.scene,
        "source": code.source,
        "miniprogram": mp.name,
        "page": code.page,
        "url": f"/platform/events/{event.external_id}/codes/{code.scene}/image",
    }, 201


@bp.get("/events/<event_id>/codes")
def event_code_counts(event_id: str) -> dict[str, Any]:
    session = db()
    event = views.get_event(session, event_id)
    found = codes.counts(session, event)
    return {
        "event_id": event.external_id,
        "codes": [
            {"scene": c.scene, "source": c.source, "scans": c.scans, "signups": c.signups} for c in found
        ],
    }


@bp.get("/events/<event_id>/codes/<scene>/image")
def event_code_image(event_id: str, scene: str) -> Response:
    session = db()
    event = views.get_event(session, event_id)
    image = codes.get_image(session, event, scene)
    mimetype = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    return Response(image, mimetype=mimetype, headers={"Cache-Control": "private, max-age=86400"})
