"""Deliveries from WeChat to an official account (or a mini program's 消息推送): what one is (Inbound, read from the parsed XML by
to_inbound), and receiving it exactly once.

WeChat re-sends a delivery it got no answer to within 5 seconds (up to three times, wechat-platform.md §2),
sometimes while the first is still being handled. Every copy must get the reply the first one got, and the
message must be stored once. Two guards:
  - the cache (`add`: set-if-absent) lets one copy through and makes the others wait for its reply;
  - the database's unique (appid, dedupe_key) is the last guard when the cache is lost or per process: the
    message, its effects and its reply commit in one transaction, so a copy that loses the insert finds the
    row complete, with the reply to repeat.
The cache only spares the database the repeats: when it does not answer (CacheUnavailable), the delivery
goes on with the database alone, and a reply that could not be cached after the commit is still answered.

One follower's deliveries take their identity row's lock first (wxbot.identity.followers.identity_id_for),
so they queue instead of deadlocking; a transaction that still meets a lock conflict (another follower's
work, a first contact arriving twice) is run again, a few times, before the callback answers 503.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wxbot import clock, db, metrics
from wxbot.cache import Cache, CacheUnavailable
from wxbot.conversations import reply_window
from wxbot.identity import followers
from wxbot.models.identity import Identity
from wxbot.models.inbound import InboundMessage
from wxbot.privacy import message_log
from wxbot.wechat.messages import BadMessage

log = logging.getLogger(__name__)

# What opens a customer-service window (wechat-platform.md §5.1): anything the follower writes, and these events
# (user_enter_tempsession: a mini-program user opened its customer-service chat).
ACTION_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg",
                           "user_enter_tempsession"})  # fmt: skip
# Events the follower caused themselves (as opposed to WeChat's reports such as TEMPLATESENDJOBFINISH).
USER_EVENTS = ACTION_EVENTS | {"view", "location", "location_select", "pic_sysphoto", "pic_photo_or_album",
                               "pic_weixin", "view_miniprogram"}  # fmt: skip

PENDING = "pending:"

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,20}")
# what the handlers see as columns; the rest of the fields are kept as they came
_ENVELOPE = ("ToUserName", "FromUserName", "Encrypt")


@dataclass(frozen=True)
class Inbound:
    """One message or event as the handlers see it. `event` is lower case; `event_key` is as WeChat sent it
    (a follow through a QR code keeps its qrscene_ prefix there; `scene` has it stripped)."""

    app_name: str
    appid: str
    openid: str
    msg_type: str
    event: str | None
    event_key: str | None
    content: str | None
    msg_id: str | None
    create_time: int
    fields: dict[str, Any] = field(default_factory=dict)
    app_kind: str = "official"  # or miniprogram: its 消息推送 (customer service)

    @property
    def scene(self) -> str | None:
        """The parametric QR code's scene of a follow or scan, else None."""
        if self.event == "subscribe" and self.event_key and self.event_key.startswith("qrscene_"):
            return self.event_key.removeprefix("qrscene_")
        if self.event == "scan":
            return self.event_key or None
        return None

    def subscription_items(self) -> list[dict[str, Any]]:
        """The <List> entries of a subscribe_msg_popup/change/sent event, whichever wrapper WeChat used (its
        docs' sample wraps change events in SubscribeMsgPopupEvent) and whether there was one entry or several
        (wechat-platform.md §3.2)."""
        for wrapper in ("SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent"):
            container = self.fields.get(wrapper)
            if isinstance(container, dict):
                items = container.get("List", [])
                return [i for i in (items if isinstance(items, list) else [items]) if isinstance(i, dict)]
        return []

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; for events (no MsgId) sender, time, event and key, hashed so that neither
        openids nor URLs end up in cache keys."""
        if self.msg_id:
            return f"m:{self.msg_id}"
        parts = "|".join(
            (self.openid, str(self.create_time), self.msg_type, self.event or "", self.event_key or "")
        )
        return "e:" + hashlib.sha256(parts.encode()).hexdigest()

    @property
    def trigger(self) -> str | None:
        """The reply window this delivery opens (message | action), or None."""
        if self.msg_type != "event":
            return "message"
        return "action" if self.event in ACTION_EVENTS else None

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.create_time, UTC).replace(tzinfo=None)


def _text(fields: dict[str, Any], name: str, *, max_length: int = 1024) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadMessage(f"{name} must be text")
    if len(value) > max_length:
        raise BadMessage(f"{name} is too long")
    return value


def _matching(fields: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = _text(fields, name)
    if value is not None and not pattern.fullmatch(value):
        raise BadMessage(f"{name} is malformed")
    return value


def _required(fields: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = _matching(fields, name, pattern)
    if value is None:
        raise BadMessage(f"{name} is missing")
    return value


def to_inbound(app_name: str, appid: str, fields: dict[str, Any], *, app_kind: str = "official") -> Inbound:
    """A parsed (and decrypted) delivery as the handlers see it; BadMessage when a required field is wrong."""
    openid = _required(fields, "FromUserName", _OPENID)
    create_time = _required(fields, "CreateTime", _DIGITS)
    if not 0 < int(create_time) < 2**32:
        raise BadMessage("CreateTime is out of range")
    msg_type = _required(fields, "MsgType", _NAME).lower()
    event = _required(fields, "Event", _NAME).lower() if msg_type == "event" else None
    # the body's size limit bounds Content; an empty text message has none
    content = _text(fields, "Content", max_length=1 << 20) if msg_type == "text" else None
    return Inbound(
        app_name=app_name,
        appid=appid,
        openid=openid,
        msg_type=msg_type,
        event=event,
        event_key=_text(fields, "EventKey") if event else None,
        content=content,
        msg_id=_matching(fields, "MsgId", _DIGITS) if msg_type != "event" else None,
        create_time=int(create_time),
        fields={k: v for k, v in fields.items() if k not in _ENVELOPE},
        app_kind=app_kind,
    )


# Builds the reply to a new delivery inside its transaction: (session, identity id) -> reply as a dict, or None.
Respond = Callable[[Session, int], dict[str, Any] | None]


class FallbackReply(Exception):
    """Raised by a Respond whose work failed: the transaction is rolled back (no savepoint per delivery, a
    round trip saved each time) and the delivery stored again with this reply and none of that work."""

    def __init__(self, reply: dict[str, Any] | None) -> None:
        super().__init__("respond failed")
        self.reply = reply


@dataclass(frozen=True)
class Received:
    reply: dict[str, Any] | None  # None: answer with nothing
    repeat: bool  # a copy of a delivery stored before, answered as the first was


def receive(
    session_factory: sessionmaker[Session],
    cache: Cache,
    message: Inbound,
    respond: Respond,
    *,
    cache_ttl: float,
    wait_seconds: float = 3.0,
) -> Received:
    """Store `message` once and return its reply; a repeat gets the first reply."""
    key = f"wechat:delivery:{message.appid}:{message.dedupe_key}"
    claim = PENDING + uuid.uuid4().hex
    if not _claim(cache, key, claim, cache_ttl):
        answered = _wait_for_reply(cache, key, wait_seconds)
        if answered is not None:
            metrics.DUPLICATE_DELIVERIES.labels(message.app_name, "cache").inc()
            return Received(answered[0], repeat=True)
        # the first copy is slow or gone: the database decides below
    try:
        received = db.retry_transaction(
            lambda: _store_once(session_factory, message, respond), retry_on=db.is_lock_conflict
        )
    except BaseException:
        _unclaim(cache, key, claim)  # let a retry try again
        raise
    if received.repeat:
        metrics.DUPLICATE_DELIVERIES.labels(message.app_name, "database").inc()
    else:
        metrics.DELIVERIES_STORED.labels(message.app_name).inc()
    with suppress(CacheUnavailable):  # stored and committed: a repeat finds the reply in the database
        cache.set(key, json.dumps({"reply": received.reply}, ensure_ascii=False), cache_ttl)
    return received


def _claim(cache: Cache, key: str, claim: str, ttl: float) -> bool:
    """True when this copy goes on to the database: the first one, or any while the cache does not answer
    (then the unique key decides)."""
    try:
        return cache.add(key, claim, ttl)
    except CacheUnavailable:
        return True


def _unclaim(cache: Cache, key: str, claim: str) -> None:
    # when the cache does not answer, the claim expires with its ttl; until then a retry waits for it and
    # then asks the database
    with suppress(CacheUnavailable):
        cache.delete_if_equals(key, claim)


def _wait_for_reply(cache: Cache, key: str, wait_seconds: float) -> tuple[dict[str, Any] | None] | None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            value = cache.get(key)
        except CacheUnavailable:
            return None  # the database decides
        if value is not None and not value.startswith(PENDING):
            return (json.loads(value)["reply"],)
        if value is None or time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _store_once(session_factory: sessionmaker[Session], message: Inbound, respond: Respond) -> Received:
    with session_factory() as session:
        try:
            try:
                reply = _store(session, message, respond)
            except FallbackReply as failed:
                # undo whatever the failed work wrote, then store the delivery with the fallback alone
                session.rollback()
                reply = _store(session, message, _answer(failed.reply))
            session.commit()
            return Received(reply, repeat=False)
        except IntegrityError:
            # a copy committed first (the insert waited for it): answer what it answered
            session.rollback()
            row = session.scalars(
                select(InboundMessage).where(
                    InboundMessage.appid == message.appid, InboundMessage.dedupe_key == message.dedupe_key
                )
            ).first()
            if row is None:  # the conflict was not about this delivery
                raise
            log.info(
                "repeated delivery answered as before app=%s type=%s", message.app_name, message.msg_type
            )
            return Received(row.reply, repeat=True)


def _answer(reply: dict[str, Any] | None) -> Respond:
    return lambda session, identity_id: reply


# Built once, Core on the table: this is the hot path, where building statements and the ORM's unit of work
# would cost more CPU than the round trips themselves.
_MESSAGES = InboundMessage.__table__
_INSERT = insert(_MESSAGES)  # type: ignore[arg-type]
_SET_REPLY = (
    update(_MESSAGES)  # type: ignore[arg-type]
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(reply=bindparam("reply"))
)


def _store(session: Session, message: Inbound, respond: Respond) -> dict[str, Any] | None:
    """The row first: a copy that loses the race fails on its insert (after waiting for the winner's
    commit) before any handler runs. Then the delivery's effects and the reply, in the same transaction."""
    identity_id = followers.identity_id_for(
        session, app_name=message.app_name, appid=message.appid, openid=message.openid, kind=message.app_kind
    )
    inserted = session.connection().execute(
        _INSERT,
        {
            "app_name": message.app_name,
            "appid": message.appid,
            "dedupe_key": message.dedupe_key,
            "identity_id": identity_id,
            "msg_type": message.msg_type,
            "event": message.event,
            "event_key": message.event_key,
            "msg_id": message.msg_id,
            "sent_at": message.sent_at,
            "fields": message_log.storable_fields(message.fields),
            "received_at": clock.now(),
        },
    )
    _update_follower(session, identity_id, message)
    reply = respond(session, identity_id)
    if reply is not None:
        (row_id,) = inserted.inserted_primary_key  # type: ignore[misc]
        session.connection().execute(_SET_REPLY, {"row_id": row_id, "reply": reply})
    return reply


def _update_follower(session: Session, identity_id: int, message: Inbound) -> None:
    if message.app_kind == "miniprogram":  # no following there: the user's chat opens the window alone
        followers.used_miniprogram(session, identity_id)
        if message.trigger:
            reply_window.record_trigger(session, identity_id, message.trigger, app_kind=message.app_kind)
        return
    if message.event in ("subscribe", "unsubscribe", "scan"):
        identity = session.get_one(Identity, identity_id)
        if message.event == "subscribe":
            followers.followed(session, identity, message.scene)
        elif message.event == "unsubscribe":
            followers.unfollowed(session, identity)
            reply_window.close(session, identity_id)
        else:
            followers.scanned(session, identity, message.scene)
    if message.msg_type != "event" or message.event in USER_EVENTS:
        followers.interacted(session, identity_id)
    if message.trigger:
        reply_window.record_trigger(session, identity_id, message.trigger)
