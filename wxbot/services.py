"""The shared objects of one process, built once by create_app() (or by the jobs process) from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from wxbot.cache import Cache, make_cache
from wxbot.config import Settings
from wxbot.db import make_engine, make_session_factory
from wxbot.privacy.pii import PiiKeys


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: Cache
    pii: PiiKeys
    # filled by the modules that own them (wxbot.wechat sets "wechat", the scheduler sets "scheduler")
    extra: dict[str, Any] = field(default_factory=dict)


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database.url, settings.database.echo)
    return Services(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        cache=make_cache(settings.redis.url, settings.redis.prefix),
        pii=PiiKeys(settings.pii_key_bytes(), settings.hash_key_bytes(), settings.retired_hash_key_bytes()),
    )
