"""Followers who followed before wxbot: walk WeChat's follower list (user/get, 10,000 openids a page), create
their identities, and learn their unionid and whether they still follow (user/info/batchget, 100 a call), so
that status pushes reach them through their unionid.

Resumable: each page is done in steps that can be repeated (identities are created once; only followers
not asked yet are asked), and the cursor (FollowerSync) moves past a page only once it is done, so a run
that stops anywhere goes on from the page it was on. Bounded: at most `rate` calls to WeChat a second.
Every answer is written in its own short transaction, never while a call to WeChat is open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wxbot import clock
from wxbot.db import session_scope
from wxbot.identity import followers, unionid
from wxbot.models.identity import FollowerSync, Identity
from wxbot.wechat import official
from wxbot.wechat.api import WeChatApi

ACTOR = "cli:followers-sync"
_IN_CHUNK = 1000  # openids per IN (...) lookup


@dataclass
class Progress:
    """What a sync has done, as its cursor row says; `done` of `total` followers walked so far."""

    app_name: str
    total: int
    listed: int
    created: int
    unionids: int
    left: int
    calls: int
    resumed: bool
    finished: bool
    walked: int = 0  # listed, plus the followers of the current page already asked about

    @classmethod
    def of(cls, row: FollowerSync, *, resumed: bool) -> Progress:
        return cls(row.app_name, row.total, row.listed, row.created, row.unionids, row.left, row.calls, resumed,
                   row.finished_at is not None, row.listed)  # fmt: skip


class Pacer:
    """At most `rate` calls a second: each call waits for its turn."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


def start(session: Session, app_name: str, *, restart: bool = False) -> tuple[FollowerSync, bool]:
    """The app's cursor: the unfinished one (resumed: True), else a new walk from the first page."""
    row = session.get(FollowerSync, app_name, with_for_update=True)
    if row is not None and row.finished_at is None and not restart:
        return row, True
    if row is None:
        row = FollowerSync(app_name=app_name, started_at=clock.now())
        session.add(row)
    row.after_identity_id = None
    row.total = row.listed = row.created = row.unionids = row.left = row.calls = 0
    row.started_at, row.finished_at = clock.now(), None
    session.flush()
    return row, False


def next_openid(session: Session, row: FollowerSync) -> str | None:
    """user/get's next_openid for the cursor's next page ("" for the first); None when the follower it
    named is gone (erased), and the walk must start over."""
    if row.after_identity_id is None:
        return ""
    identity = session.get(Identity, row.after_identity_id)
    return identity.openid if identity is not None else None


def add_listed(session: Session, app_name: str, appid: str, openids: list[str]) -> int:
    """Identities for the listed openids that have none yet (followers since before wxbot), marked as
    following with their unionid to ask; a known identity that had left follows again. Returns how many
    were created."""
    existing: dict[str, Identity] = {}
    for i in range(0, len(openids), _IN_CHUNK):
        chunk = openids[i : i + _IN_CHUNK]
        existing.update(
            (ident.openid, ident)
            for ident in session.scalars(
                select(Identity).where(Identity.appid == appid, Identity.openid.in_(chunk))
            )
        )
    for ident in existing.values():
        if not ident.subscribed:
            followers.followed(session, ident, None)  # a follow that never reached us
    missing = [o for o in dict.fromkeys(openids) if o not in existing]
    rows = [{"app_name": app_name, "appid": appid, "kind": "official", "openid": o, "subscribed": True}
            for o in missing]  # fmt: skip
    if not rows:
        return 0
    try:
        with session.begin_nested():
            session.execute(insert(Identity), rows)
        return len(rows)
    except IntegrityError:  # a first delivery of one of them created it meanwhile: one by one then
        created = 0
        for row in rows:
            try:
                with session.begin_nested():
                    session.execute(insert(Identity), [row])
                created += 1
            except IntegrityError:
                continue
        return created


def unasked(session: Session, appid: str, openids: list[str]) -> list[tuple[int, str, datetime | None]]:
    """(id, openid, subscribed_at) of the listed followers whose unionid was not asked for yet."""
    found = []
    for i in range(0, len(openids), _IN_CHUNK):
        chunk = openids[i : i + _IN_CHUNK]
        stmt = (
            select(Identity.id, Identity.openid, Identity.subscribed_at)
            .where(Identity.appid == appid, Identity.openid.in_(chunk), Identity.unionid_checked_at.is_(None))
            .order_by(Identity.id)
        )
        found += [(r[0], r[1], r[2]) for r in session.execute(stmt)]
    return found


def record_infos(
    session: Session, asked: list[tuple[int, str, datetime | None]], infos: list[dict[str, Any]]
) -> tuple[int, int]:
    """Store batchget's answers for the followers asked; (unionids learned, followers gone)."""
    by_openid = {i.get("openid"): i for i in infos}
    answered = [
        (identity_id, at, by_openid[openid]) for identity_id, openid, at in asked if openid in by_openid
    ]
    unionid.record_user_infos(session, answered)
    learned = left = 0
    for identity_id, _, info in answered:
        identity = session.get(Identity, identity_id)
        if identity is None:
            continue
        if info.get("subscribe") != 1:
            left += 1
            continue
        learned += identity.unionid is not None and identity.unionid == info.get("unionid")
        if identity.subscribed_at is None:
            identity.subscribed_at = _from_unix(info.get("subscribe_time")) or clock.now()
    return learned, left


def _from_unix(value: Any) -> datetime | None:
    if isinstance(value, int) and 0 < value < 2**32:
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    return None


def sync(
    session_factory: sessionmaker[Session],
    api: WeChatApi,
    app_name: str,
    *,
    rate: float,
    restart: bool = False,
    progress: Callable[[Progress], None] = lambda _p: None,
) -> Progress:
    """Walk the account's followers from where the last run stopped (or the start); `progress` is told after
    each step. WeChatError / WeChatUnavailable end the run with the cursor where it was: run it again."""
    appid = api.appid(app_name)
    pacer = Pacer(rate)
    with session_scope(session_factory) as session:
        row, resumed = start(session, app_name, restart=restart)
        cursor = next_openid(session, row)
        if cursor is None:
            row, resumed = start(session, app_name, restart=True)
            cursor = ""
        state = Progress.of(row, resumed=resumed)
    progress(state)
    while True:
        pacer.wait()
        page = official.followers(api, app_name, cursor)
        state.calls += 1
        state.total = page.total or state.total
        with session_scope(session_factory) as session:
            state.created += add_listed(session, app_name, appid, page.openids)
            asked = unasked(session, appid, page.openids)
            _save(session, state, None)
        state.walked = state.listed + len(page.openids) - len(asked)
        progress(state)
        for i in range(0, len(asked), official.BATCHGET_MAX):
            chunk = asked[i : i + official.BATCHGET_MAX]
            pacer.wait()
            infos = official.users_info(api, app_name, [openid for _, openid, _ in chunk])
            state.calls += 1
            with session_scope(session_factory) as session:
                learned, left = record_infos(session, chunk, infos)
                state.unionids += learned
                state.left += left
                _save(session, state, None)
            state.walked += len(chunk)
            progress(state)
        state.listed += len(page.openids)
        state.walked = state.listed
        with session_scope(session_factory) as session:
            last = page.openids[-1] if page.openids else None
            after = (
                session.scalar(select(Identity.id).where(Identity.appid == appid, Identity.openid == last))
                if last
                else None
            )
            state.finished = not page.next_openid
            _save(session, state, after, finished=state.finished)
        progress(state)
        if state.finished:
            return state
        cursor = page.next_openid


def _save(session: Session, state: Progress, after: int | None, *, finished: bool = False) -> None:
    row = session.get_one(FollowerSync, state.app_name)
    for name in ("total", "listed", "created", "unionids", "left", "calls"):
        setattr(row, name, getattr(state, name))
    if after is not None:
        row.after_identity_id = after
    if finished:
        row.finished_at = clock.now()
