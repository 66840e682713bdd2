"""Mini-program codes for events: the platform asks for a code (a poster batch, a school, the hall's door), the
mini program's page resolves the code's scene back to the event, and the sign-ups it brought are counted.

A scene is a random key of SCENE_LENGTH letters and digits, never an id or a phone (it is printed on posters
and sent to WeChat): WeChat's getwxacodeunlimit takes at most 32 visible characters. The caller asks WeChat
for the image (new_scene, then the WeChat call, then store) so that nothing is stored for a code WeChat
refused; the domain never talks to WeChat itself.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxbot import clock
from wxbot.campus import views
from wxbot.errors import Invalid, NotFound
from wxbot.models.campus import Event
from wxbot.models.codes import MAX_IMAGE_BYTES, EventCode

SCENE_LENGTH = 16  # 95 bits of letters and digits: not guessable, well inside WeChat's 32
SCENE = re.compile(r"[A-Za-z0-9]{16}")
MAX_SOURCE = 64
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class CodeCount:
    scene: str
    source: str
    scans: int
    signups: int


def new_scene() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(SCENE_LENGTH))


def clean_source(value: object) -> str:
    """The optional source label (a school, a poster batch): text the platform chose, bounded."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_SOURCE or any(c in value for c in "\r\n\t"):
        raise Invalid("invalid_field", f"source: at most {MAX_SOURCE} characters on one line", field="source")
    return value.strip()


def event_for_code(session: Session, external_id: str) -> Event:
    """The event a code is asked for: it must exist and not be cancelled."""
    event = views.get_event(session, external_id)
    if event.status == "cancelled":
        raise Invalid("event_cancelled", "the event is cancelled: no code for it")
    return event


def store(
    session: Session, *, event: Event, scene: str, app_name: str, source: str, page: str, image: bytes
) -> EventCode:
    if len(image) > MAX_IMAGE_BYTES:
        raise Invalid("invalid_code_image", "the code image is too large")
    code = EventCode(
        scene=scene, event_id=event.id, app_name=app_name, source=source, page=page, image=image,
        created_at=clock.now(), scans=0, signups=0,
    )  # fmt: skip
    session.add(code)
    session.flush()
    return code


def _find(session: Session, app_name: str, scene: object) -> EventCode | None:
    if not isinstance(scene, str) or not SCENE.fullmatch(scene):
        return None
    return session.scalars(
        select(EventCode).where(EventCode.scene == scene, EventCode.app_name == app_name)
    ).first()


def resolve(session: Session, app_name: str, scene: str) -> EventCode:
    """A scan: the code's event for the mini program's page, the scan counted."""
    code = _find(session, app_name, scene)
    if code is None:
        raise NotFound("scene_not_found", "没有这个活动码")
    _count(session, code.scene, scans=True)
    return code


def count_signup(session: Session, app_name: str, scene: object, event_id: int) -> None:
    """A sign-up that came with a scene: counted for that code when it is one of this event's."""
    code = _find(session, app_name, scene)
    if code is not None and code.event_id == event_id:
        _count(session, code.scene, scans=False)


def _count(session: Session, scene: str, *, scans: bool) -> None:
    column = EventCode.scans if scans else EventCode.signups
    session.execute(
        update(EventCode)
        .where(EventCode.scene == scene)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )


def get_image(session: Session, event: Event, scene: str) -> bytes:
    code = session.get(EventCode, scene) if SCENE.fullmatch(scene) else None
    if code is None or code.event_id != event.id:
        raise NotFound("code_not_found", "no such code for this event")
    return code.image


def counts(session: Session, event: Event) -> list[CodeCount]:
    """Scans and sign-ups per code of the event, oldest code first."""
    rows = session.scalars(
        select(EventCode)
        .where(EventCode.event_id == event.id)
        .order_by(EventCode.created_at, EventCode.scene)
        .execution_options(populate_existing=True)
    )
    return [CodeCount(r.scene, r.source, r.scans, r.signups) for r in rows]
