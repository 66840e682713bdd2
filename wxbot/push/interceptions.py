"""Template messages WeChat intercepted after accepting them (since 2023-05-04 it intercepts pure marketing,
wechat-platform.md §12): `wxa/sec/queryblocktmplmsg` lists them per template id, with the openid and the time
of the send but no msgid. Each entry is matched to the push sent to that openid with that template closest
to that time, which then says "intercepted by WeChat" (wxbot.push.explain). Marking is idempotent: a daily
run may see the same entries again (jobs/interceptions.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxbot.config import Settings
from wxbot.models.identity import Identity
from wxbot.models.outbox import Notification

# WeChat's send_timestamp and our sent_at (written when its answer came) differ by the call's duration and
# by the two clocks; a person rarely gets two pushes of one template this close together.
MATCH_WITHIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Blocked:
    """One entry of queryblocktmplmsg: the template, the follower, when it was sent."""

    template_id: str
    openid: str
    sent_at: datetime  # naive UTC

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Blocked | None:
        template_id, openid, stamp = (
            entry.get("tmpl_msg_id"),
            entry.get("openid"),
            entry.get("send_timestamp"),
        )
        if not isinstance(template_id, str) or not isinstance(openid, str) or not openid:
            return None
        if isinstance(stamp, bool) or not isinstance(stamp, int | str) or not str(stamp).isdigit():
            return None
        moment = datetime.fromtimestamp(int(str(stamp)[:12]), UTC).replace(tzinfo=None)
        return cls(template_id[:128], openid[:64], moment)


def template_ids(settings: Settings, app_name: str) -> dict[str, set[str]]:
    """template_id -> the [notify.templates] keys that send it through official account `app_name`."""
    found: dict[str, set[str]] = {}
    for key, per_app in settings.notify.templates.items():
        template = per_app.get(app_name)
        if template is not None:
            found.setdefault(template.template_id, set()).add(key)
    return found


def mark_intercepted(session: Session, settings: Settings, app_name: str, entries: Iterable[Blocked]) -> int:
    """Mark the pushes these entries are about as intercepted; how many were newly marked. The caller commits."""
    keys_of = template_ids(settings, app_name)
    marked = 0
    for entry in entries:
        keys = keys_of.get(entry.template_id)
        if not keys:
            continue
        identity = session.scalars(
            select(Identity).where(Identity.app_name == app_name, Identity.openid == entry.openid)
        ).first()
        if identity is None:
            continue
        candidates = session.scalars(
            select(Notification).where(
                Notification.sent_identity_id == identity.id,
                Notification.channel == "template",
                Notification.status.in_(("sent", "delivered", "failed")),
                Notification.sent_at.between(entry.sent_at - MATCH_WITHIN, entry.sent_at + MATCH_WITHIN),
            )
        )
        ours = [n for n in candidates if (n.content.get("template") or {}).get("key") in keys]
        if not ours:
            continue
        row = min(ours, key=lambda n: abs((n.sent_at or entry.sent_at) - entry.sent_at))
        if row.reason == "intercepted":
            continue
        row.status, row.reason, row.detail = "failed", "intercepted", "template: queryblocktmplmsg"
        marked += 1
    session.flush()
    return marked
