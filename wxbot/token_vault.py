"""The access tokens' copy in the database (the access_tokens table), for the token store
(wxbot.wechat.tokens): the lock that lets one process at a time fetch an app's token, whatever Redis does,
and where a process finds the token another one fetched while Redis did not answer.

The lock is the app's row, taken with SELECT ... FOR UPDATE on MySQL/MariaDB; on SQLite every write
transaction begins with BEGIN IMMEDIATE (wxbot.db), which serialises them all anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from wxbot.db import is_lock_conflict, is_mysql, retry_transaction
from wxbot.models.tokens import AccessToken


class DatabaseTokenVault:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def locked(self, appid: str, decide: Callable[[str | None], str]) -> str:
        """decide(the stored token, or None) under the app's row lock; what it returns is stored (a new token
        is not refused) and returned. decide may call WeChat: the others wait for it, then find its token."""
        with self._session_factory() as session:
            row = self._lock_row(session, appid)
            if row is None:  # the app's first token: make its row, then lock it
                session.rollback()
                # processes making it at once can deadlock on the duplicate-key checks: the loser runs again
                retry_transaction(
                    lambda: self._add_row(session, appid), retry_on=is_lock_conflict, session=session
                )
                row = self._lock_row(session, appid)
                assert row is not None  # noqa: S101  (just made; rows are never deleted)
            stored = decide(row.stored)
            if stored != row.stored:
                row.stored, row.refused = stored, None
            session.commit()
            return stored

    def refused(self, appid: str) -> str | None:
        """The fetch id of the app's token that WeChat refused after a refresh, if any."""
        with self._session_factory() as session:
            return session.scalar(select(AccessToken.refused).where(AccessToken.appid == appid))

    def refuse(self, appid: str, fetch_id: str) -> None:
        """WeChat refused the token of `fetch_id` after a refresh: no process refreshes for it again."""
        with self._session_factory() as session:
            session.execute(
                update(AccessToken)
                .where(
                    AccessToken.appid == appid, AccessToken.stored.startswith(fetch_id + ".", autoescape=True)
                )
                .values(refused=fetch_id)
            )
            session.commit()

    @staticmethod
    def _lock_row(session: Session, appid: str) -> AccessToken | None:
        stmt = select(AccessToken).where(AccessToken.appid == appid).with_for_update()
        return session.scalars(stmt.execution_options(populate_existing=True)).first()

    @staticmethod
    def _add_row(session: Session, appid: str) -> None:
        if is_mysql(session):
            session.execute(mysql_insert(AccessToken).values(appid=appid).prefix_with("IGNORE"))
        else:
            session.execute(sqlite_insert(AccessToken).values(appid=appid).on_conflict_do_nothing())
        session.commit()
