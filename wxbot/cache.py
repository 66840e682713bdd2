"""Shared short-lived state: dedupe keys, locks, rate limits, the access-token store.

Redis when configured (every process sees the same state); in-process otherwise (one process only, the
laptop default). Both implement the same small interface, and nothing else in the project talks to Redis.

When Redis does not answer, a call raises CacheUnavailable, and the process logs one line when Redis stops
answering and one when it answers again (not one per call). What each use does then, as its purpose says:
  fail open (goes on without Redis)
    - the callback's delivery dedupe (wxbot.callback.inbound): Redis only spares the database the repeats;
      the unique (appid, dedupe_key) and the stored reply still answer every copy once, as when Redis lost
      its keys. A reply that cannot be cached after the commit is served from the database next time.
  fail closed (refuses, the request errors or the job waits for its next run)
    - the console's login limits, per username and per address alike (wxbot.console.login_limits), and its
      sessions: a brute-force guard that opens when Redis goes down is no guard, and without sessions
      nobody is logged in anyway; the console answers 503, saying so;
    - the mini program's daily phone-lookup caps and the privacy-export rate limit: each lookup costs money,
      each export is personal data; neither is worth serving unguarded;
    - the singleton job locks (jobs) and the SQLite sender's claim lock: two runners at once would double
      work or sends, skipping a run costs one interval;
    - the access-token store and its refresh lock (wxbot.wechat.tokens): calls to WeChat fail while Redis
      is down, and the sender tries its rows again later.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import redis

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a cache call raises when the cache does not answer (Redis's own error, named here so that callers
# need not import redis).
CacheUnavailable = redis.RedisError


class LockNotAcquired(RuntimeError):
    pass


class Cache(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: float | None = None) -> None: ...
    def add(self, key: str, value: str, ttl: float) -> bool:
        """Set only if absent; True when this call set it."""
        ...

    def delete(self, key: str) -> None: ...
    def delete_if_equals(self, key: str, expected: str) -> bool:
        """Delete only if the value is still `expected` (compare-and-expire)."""
        ...

    def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the first increment starts its ttl (a fixed-window rate limit)."""
        ...

    @contextmanager
    def lock(self, name: str, ttl: float = 30, wait: float = 10) -> Iterator[None]:
        """Hold `name` across processes; raises LockNotAcquired after `wait` seconds."""
        ...
        yield

    def try_lock(self, name: str, ttl: float) -> str | None:
        """Take `name` without waiting; the returned token releases it. None when held elsewhere."""
        ...

    def release(self, name: str, token: str) -> None: ...


class _Locks(ABC):
    """Locks built on set-if-absent and compare-and-delete, the same for both caches."""

    @abstractmethod
    def add(self, key: str, value: str, ttl: float) -> bool: ...

    @abstractmethod
    def delete_if_equals(self, key: str, expected: str) -> bool: ...

    def try_lock(self, name: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        return token if self.add(f"lock:{name}", token, ttl) else None

    def release(self, name: str, token: str) -> None:
        self.delete_if_equals(f"lock:{name}", token)

    @contextmanager
    def lock(self, name: str, ttl: float = 30, wait: float = 10) -> Iterator[None]:
        deadline = time.monotonic() + wait
        while (token := self.try_lock(name, ttl)) is None:
            if time.monotonic() >= deadline:
                raise LockNotAcquired(name)
            time.sleep(0.01)
        try:
            yield
        finally:
            self.release(name, token)


class InProcessCache(_Locks):
    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._mutex = threading.RLock()

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    def get(self, key: str) -> str | None:
        with self._mutex:
            return self._live(key)

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        with self._mutex:
            self._data[key] = (value, time.monotonic() + ttl if ttl else None)

    def add(self, key: str, value: str, ttl: float) -> bool:
        with self._mutex:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, time.monotonic() + ttl)
            return True

    def delete(self, key: str) -> None:
        with self._mutex:
            self._data.pop(key, None)

    def delete_if_equals(self, key: str, expected: str) -> bool:
        with self._mutex:
            if self._live(key) == expected:
                del self._data[key]
                return True
            return False

    def incr(self, key: str, ttl: float) -> int:
        with self._mutex:
            current = self._live(key)
            value = int(current or 0) + 1
            expires = self._data[key][1] if current is not None else time.monotonic() + ttl
            self._data[key] = (str(value), expires)
            return value


class Reachability:
    """Whether Redis answered this process's last call, and since when it has not: one log line when it
    stops answering and one when it answers again, whatever the number of calls in between."""

    def __init__(self) -> None:
        self.down_since: float | None = None  # time.monotonic() of the first failure of this outage
        self._mutex = threading.Lock()

    def failed(self, exc: Exception) -> None:
        if self.down_since is not None:
            return
        with self._mutex:
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.error("redis unavailable (%s: %s); see wxbot.cache for what goes on without it",
                          type(exc).__name__, exc)  # fmt: skip

    def answered(self) -> None:
        if self.down_since is None:  # the usual case: no lock taken
            return
        with self._mutex:
            if self.down_since is not None:
                log.warning("redis available again after %.1f s", time.monotonic() - self.down_since)
                self.down_since = None


_DELETE_IF_EQUALS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_INCR_WITH_TTL = """
local v = redis.call('incr', KEYS[1])
if v == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return v
"""


class RedisCache(_Locks):
    def __init__(self, url: str, prefix: str = "wxbot:") -> None:
        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
        )
        self.prefix = prefix
        self._delete_if_equals = self.client.register_script(_DELETE_IF_EQUALS)
        self._incr_with_ttl = self.client.register_script(_INCR_WITH_TTL)
        self.reachability = Reachability()

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, command: Callable[[], T]) -> T:
        try:
            result = command()
        except redis.RedisError as exc:
            self.reachability.failed(exc)
            raise
        self.reachability.answered()
        return result

    def get(self, key: str) -> str | None:
        value = self._call(lambda: self.client.get(self._k(key)))
        return None if value is None else str(value)

    def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._call(lambda: self.client.set(self._k(key), value, px=int(ttl * 1000) if ttl else None))

    def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._call(lambda: self.client.set(self._k(key), value, px=int(ttl * 1000), nx=True)))

    def delete(self, key: str) -> None:
        self._call(lambda: self.client.delete(self._k(key)))

    def delete_if_equals(self, key: str, expected: str) -> bool:
        return bool(self._call(lambda: self._delete_if_equals(keys=[self._k(key)], args=[expected])))

    def incr(self, key: str, ttl: float) -> int:
        return int(self._call(lambda: self._incr_with_ttl(keys=[self._k(key)], args=[int(ttl * 1000)])))


def make_cache(url: str, prefix: str) -> Cache:
    return RedisCache(url, prefix) if url else InProcessCache()
