"""The access tokens' copy in the database: what the token store falls back to when the cache (Redis) does
not answer, and the row its refresh locks, so that two processes never both fetch a token from WeChat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from wxbot.db import Base
from wxbot.models.base import updated_at_column


class AccessToken(Base):
    __tablename__ = "access_tokens"

    appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    # as the cache holds it: "<fetch id>.<token>" (wxbot.wechat.tokens); NULL before the first fetch
    stored: Mapped[str | None] = mapped_column(String(640))
    # the fetch id of a token WeChat still refused after a refresh: no refresh for it again
    refused: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = updated_at_column()
