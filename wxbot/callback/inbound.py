"""Deliveries from WeChat to an official account (or a mini program's 消息推送): what one is (Inbound, read from the parsed XML by
to_inbound), and receiving it exactly once.

WeChat re-sends a delivery it got no answer to within 5 seconds (up to three times, wechat-platform.md §2),
sometimes while the first is still being handled. Every copy must get the reply the first one got, and the
message must be stored once. Two guards:
  - the cache (`add`: set-if-absent, the delivery's one Redis call) lets one copy through and makes the
    others wait for the reply it commits with the message (read from the database: the reply is not copied
    into the cache, a round trip per delivery saved for the rare repeat);
  - the database's unique (appid, dedupe_key) is the last guard when the cache is lost or per process: the
    message, its effects and its reply commit in one transaction, so a copy that finds the row (under the
    identity's lock, or when its insert loses) answers with the reply stored there.
The cache only spares the database the repeats' work: when it does not answer (CacheUnavailable), the
delivery goes on with the database alone.

One follower's deliveries take their identity row's lock first (the statement that records what the
delivery changes on it, wxbot.identity.followers.record_delivery, or identity_id_for on first contact), so
they queue instead of deadlocking; a transaction that still meets a lock conflict (another follower's work,
a first contact arriving twice) or a stale pooled connection is run again, a few times, before the callback
answers 503.
"""

from __future__ import annotations

import hashlib
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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wxbot import clock, db, metrics
from wxbot.cache import Cache, CacheUnavailable
from wxbot.conversations import conversations, reply_window
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
        """MsgId for messages; for events (no MsgId) sender, time, event and key (and a report's MsgID),
        hashed so that neither openids nor URLs end up in cache keys."""
        if self.msg_id:
            return f"m:{self.msg_id}"
        # a report's MsgID tells apart two reports to one follower in the same second (two pushes at once)
        report_id = self.fields.get("MsgID")
        parts = "|".join(
            (self.openid, str(self.create_time), self.msg_type, self.event or "", self.event_key or "")
            + ((report_id,) if isinstance(report_id, str) else ())
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
        answered = _wait_for_reply(session_factory, cache, key, message, wait_seconds)
        if answered is not None:
            metrics.DUPLICATE_DELIVERIES.labels(message.app_name, "cache").inc()
            return Received(answered[0], repeat=True)
        # the first copy is slow or gone: the database decides below
    try:
        # run again on a lock conflict, or on a connection that went stale in the pool (no pre-ping:
        # wxbot.db); safe even when the connection died during COMMIT: a delivery that did commit is found
        # by its unique key and answered as stored
        received = db.retry_transaction(lambda: _store_once(session_factory, message, respond))
    except BaseException:
        _unclaim(cache, key, claim)  # let a retry try again
        raise
    _count(message, received)
    return received


def _count(message: Inbound, received: Received) -> None:
    if received.repeat:
        metrics.DUPLICATE_DELIVERIES.labels(message.app_name, "database").inc()
    else:
        metrics.DELIVERIES_STORED.labels(message.app_name).inc()


def receive_report(
    session_factory: sessionmaker[Session], message: Inbound, apply: Callable[[Session], None]
) -> Received | None:
    """A report from WeChat (TEMPLATESENDJOBFINISH and the like, wxbot.handlers.router.Router.report): no
    reply, no routing, nothing on the follower's row to change. Stored and applied with the least work, as
    durably as any delivery: the message inserted with its identity looked up in the same statement, `apply`
    (the outbox row's delivery state), COMMIT. No Redis and no identity lock: a repeat's insert fails on the
    unique key (after waiting for the first copy's commit) and is answered as the first was, with nothing.
    None, with nothing stored, when the follower is not known yet: `receive` then stores it."""
    params = _report_params(message)

    def once() -> Received | None:
        with session_factory() as session:
            connection = session.connection()
            try:
                if not connection.execute(_INSERT_REPORT, params).rowcount:
                    return None
            except IntegrityError:
                log.info(
                    "repeated report answered as before app=%s event=%s", message.app_name, message.event
                )
                return Received(None, repeat=True)
            try:
                apply(session)
            except Exception as exc:
                if isinstance(exc, DBAPIError) and db.is_lock_conflict(exc):
                    raise  # the whole delivery runs again
                log.exception("report %s failed app=%s", message.event, message.app_name)
                session.rollback()  # stored without what the report would have changed
                session.connection().execute(_INSERT_REPORT, params)
            session.commit()
            return Received(None, repeat=False)

    received = db.retry_transaction(once)
    if received is not None:
        _count(message, received)
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


# the reply of a stored delivery, as a repeat waiting for the first copy reads it
_REPLY = select(InboundMessage.reply).where(
    InboundMessage.appid == bindparam("appid"), InboundMessage.dedupe_key == bindparam("dedupe_key")
)


def _wait_for_reply(
    session_factory: sessionmaker[Session], cache: Cache, key: str, message: Inbound, wait_seconds: float
) -> tuple[dict[str, Any] | None] | None:
    """While the first copy's claim stands, the reply it committed with the message, once it is there.
    None: the claim is gone (the first copy failed) or the wait is over; the database decides."""
    deadline = time.monotonic() + wait_seconds
    params = {"appid": message.appid, "dedupe_key": message.dedupe_key}
    while True:
        with session_factory() as session:
            found = session.connection().execute(_REPLY, params).first()
        if found is not None:
            return (found[0],)
        try:
            if cache.get(key) is None:
                return None
        except CacheUnavailable:
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


class _Stored(Exception):
    """The delivery is stored already (a copy committed first): its reply is the answer."""


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
        except (_Stored, IntegrityError):
            # a copy committed first (found under the identity's lock, or the insert waited for it): answer
            # what it answered
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
_IDENTITIES = Identity.__table__
_INSERT = insert(_MESSAGES)  # type: ignore[arg-type]
_SET_REPLY = (
    update(_MESSAGES)  # type: ignore[arg-type]
    .where(_MESSAGES.c.id == bindparam("row_id"))
    .values(reply=bindparam("reply"))
)
# What the delivery reads, once the identity's row is locked: its id, whether an open 留言 conversation
# captures what the follower sends, and whether a copy of this delivery is stored already.
_READ = select(
    _IDENTITIES.c.id,
    conversations.capturing_exists(_IDENTITIES.c.id),
    conversations.last_resolved_at(_IDENTITIES.c.id),
    select(_MESSAGES.c.id)
    .where(_MESSAGES.c.appid == bindparam("appid"), _MESSAGES.c.dedupe_key == bindparam("dedupe_key"))
    .scalar_subquery(),
).where(_IDENTITIES.c.appid == bindparam("appid"), _IDENTITIES.c.openid == bindparam("openid"))
# A report's row, its identity found in the same statement (none found: nothing inserted).
_REPORT_COLUMNS = ("app_name", "appid", "dedupe_key", "msg_type", "event", "event_key", "msg_id", "sent_at",
                   "fields", "received_at")  # fmt: skip
_INSERT_REPORT = insert(_MESSAGES).from_select(  # type: ignore[arg-type]
    [*_REPORT_COLUMNS, "identity_id"],
    select(
        *(bindparam(f"r_{c}", type_=_MESSAGES.c[c].type) for c in _REPORT_COLUMNS), _IDENTITIES.c.id
    ).where(_IDENTITIES.c.appid == bindparam("r_appid"), _IDENTITIES.c.openid == bindparam("r_openid")),
)


def _report_params(message: Inbound) -> dict[str, Any]:
    return {
        "r_app_name": message.app_name,
        "r_appid": message.appid,
        "r_openid": message.openid,
        "r_dedupe_key": message.dedupe_key,
        "r_msg_type": message.msg_type,
        "r_event": message.event,
        "r_event_key": message.event_key,
        "r_msg_id": message.msg_id,
        "r_sent_at": message.sent_at,
        "r_fields": message_log.storable_fields(message.fields),
        "r_received_at": clock.now(),
    }


# the follow state's events, handled on the loaded identity (rare: the ORM's cost does not matter)
_FOLLOW_EVENTS = frozenset({"subscribe", "unsubscribe", "scan"})


def _store(session: Session, message: Inbound, respond: Respond) -> dict[str, Any] | None:
    """The follower's row first, changed and locked in one statement for most deliveries; then what the
    delivery needs to read (a copy found stored ends here, before any handler runs); then the handler, and
    the message with its reply in one insert, in the same transaction: four round trips with the COMMIT for
    a follower's message. A handler that runs statements finds the message stored before its first one
    (the reply is then written after it)."""
    interacted = message.msg_type != "event" or message.event in USER_EVENTS
    touched = (
        message.app_kind == "official"
        and message.event not in _FOLLOW_EVENTS
        and followers.record_delivery(
            session, interacted=interacted, window=message.trigger, appid=message.appid, openid=message.openid
        )
    )
    if not touched:  # first contact, a follow event, a mini program's, or one that changes nothing on the row
        identity_id = followers.identity_id_for(
            session,
            app_name=message.app_name,
            appid=message.appid,
            openid=message.openid,
            kind=message.app_kind,
        )
        _update_follower(session, identity_id, message, interacted)
    found = session.connection().execute(
        _READ, {"appid": message.appid, "openid": message.openid, "dedupe_key": message.dedupe_key}
    )
    identity_id, capturing, last_resolved, stored = found.one()
    if stored is not None:
        raise _Stored
    row = {
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
    }
    connection = session.connection()
    inserted: list[int] = []  # the message's id, once stored ahead of the handler's statements

    def message_first() -> None:
        # before the handler's first statement the message is stored (the handler may count on it)
        (row_id,) = connection.execute(_INSERT, row).inserted_primary_key  # type: ignore[misc]
        inserted.append(row_id)

    conversations.known_state(session, conversations.Known(identity_id, bool(capturing), last_resolved))
    db.before_next_statement(connection, message_first)
    try:
        reply = respond(session, identity_id)
    finally:
        db.before_next_statement(connection, None)
        conversations.known_state(session, None)
    if inserted:
        if reply is not None:
            connection.execute(_SET_REPLY, {"row_id": inserted[0], "reply": reply})
    else:  # the handler needed no statement: the message and its reply in one
        if reply is not None:  # else the column stays NULL
            row["reply"] = reply
        connection.execute(_INSERT, row)
    return reply


def _update_follower(session: Session, identity_id: int, message: Inbound, interacted: bool) -> None:
    if message.app_kind == "miniprogram":  # no following there: the user's chat opens the window alone
        followers.used_miniprogram(session, identity_id)
        if message.trigger:
            reply_window.record_trigger(session, identity_id, message.trigger, app_kind=message.app_kind)
        return
    if message.event in _FOLLOW_EVENTS:
        identity = session.get_one(Identity, identity_id)
        if message.event == "subscribe":
            followers.followed(session, identity, message.scene)
        elif message.event == "unsubscribe":
            followers.unfollowed(session, identity)
            reply_window.close(session, identity_id)
        else:
            followers.scanned(session, identity, message.scene)
    followers.record_delivery(session, interacted=interacted, window=message.trigger, identity_id=identity_id)
