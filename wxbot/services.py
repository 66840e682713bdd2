"""The shared objects of one process, built once by create_app() (or by the jobs process) from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from wxbot.cache import Cache, make_cache
from wxbot.config import Settings
from wxbot.db import make_engine, make_session_factory
from wxbot.privacy.pii import PiiKeys
from wxbot.token_vault import DatabaseTokenVault
from wxbot.wechat.api import WeChatApi

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from wxbot.handlers.router import Router
    from wxbot.sandbox.state import SandboxState
    from wxbot.wechat.crypto import MessageCrypto


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: Cache
    pii: PiiKeys
    wechat: WeChatApi  # the process's WeChat client (one wechatpy client per app, shared by threads)
    router: Router | None = None  # the official account's router, set by create_app()
    scheduler: BaseScheduler | None = None  # the embedded scheduler, where this process runs one
    sandbox: SandboxState | None = None  # the sandbox WeChat's state, in development only
    # one MessageCrypto per official account: the key derivation is not redone per request
    callback_crypto: dict[str, MessageCrypto] = field(default_factory=dict)


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database.url, settings.database.echo)
    cache = make_cache(settings.redis)
    session_factory = make_session_factory(engine)
    return Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        cache=cache,
        pii=PiiKeys(settings.pii_key_bytes(), settings.hash_key_bytes(), settings.retired_hash_key_bytes()),
        wechat=WeChatApi(settings, cache, DatabaseTokenVault(session_factory)),
    )
