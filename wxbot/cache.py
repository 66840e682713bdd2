"""Shared short-lived state: dedupe keys, locks, rate limits, the access-token store.

Redis when configured (every process sees the same state); in-process otherwise (one process only, the
laptop default). Both implement the same small interface, and nothing else in the project talks to Redis.

When Redis does not answer, a call raises CacheUnavailable. Each call waits at most `[redis]
socket_timeout_seconds`, and after a few failures in a row a circuit breaker stops asking Redis for a while
(CircuitBreaker): a Redis that hangs costs the callback a bounded moment, not a timeout per call. The process
logs one line when the breaker opens and one when it closes (not one per call). What each use does then, as
its purpose says:
  fail open (goes on without Redis)
    - the callback's delivery dedupe (wxbot.callback.inbound): Redis only spares the database the repeats;
      the unique (appid, dedupe_key) and the stored reply still answer every copy once, as when Redis lost
      its keys. Redis holds the claim only; a repeat reads the first copy's reply from the database;
    - the access-token store (wxbot.wechat.tokens): a process keeps the token it holds, one that holds none
      reads the database's copy, and a refresh takes the database's lock (wxbot.token_vault), so two
      processes never both fetch a token (each fetch of cgi-bin/token invalidates the other's).
  fail closed (refuses, the request errors or the job waits for its next run)
    - the console's login limits, per username and per address alike (wxbot.console.login_limits), and its
      sessions: a brute-force guard that opens when Redis goes down is no guard, and without sessions
      nobody is logged in anyway; the console answers 503, saying so;
    - the mini program's daily phone-lookup caps and the privacy-export rate limit: each lookup costs money,
      each export is personal data; neither is worth serving unguarded;
    - the singleton job locks (jobs) and the SQLite sender's claim lock: two runners at once would double
      work or sends, skipping a run costs one interval.
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

from wxbot.config.schema import RedisSettings

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

    def ping(self) -> None:
        """Nothing when the cache answers; CacheUnavailable when it does not (readiness)."""
        ...


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
    def ping(self) -> None:
        pass  # this process's memory always answers

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


class CircuitOpen(redis.ConnectionError):
    """Refused without asking Redis: the breaker is open (a CacheUnavailable like any other)."""


class CircuitBreaker:
    """Whether this process asks Redis now. Closed: every call goes. After `failures` failures in a row it
    opens: calls fail at once (CircuitOpen) for `reset_seconds`, so a Redis that accepts connections but never
    answers costs each call nothing instead of its socket timeout. Then half-open: one call tries; its answer
    closes the breaker, its failure opens it again. One log line when it opens, one when it closes, whatever
    the number of calls in between."""

    def __init__(self, failures: int = 3, reset_seconds: float = 5.0) -> None:
        self.failures_to_open = failures
        self.reset_seconds = reset_seconds
        self.opened_at: float | None = None  # time.monotonic() when it last opened; None: closed
        self.down_since: float | None = None  # the first failure of this outage
        self.rejected = 0  # calls refused while open
        self._failures = 0
        self._trying = False  # a half-open call is out
        self._mutex = threading.Lock()

    def allow(self) -> None:
        if self.opened_at is None:  # the usual case: no lock taken
            return
        with self._mutex:
            if self.opened_at is None:
                return
            if not self._trying and time.monotonic() - self.opened_at >= self.reset_seconds:
                self._trying = True
                return
            self.rejected += 1
        raise CircuitOpen("redis circuit open")

    def failed(self, exc: Exception) -> None:
        with self._mutex:
            self._trying = False
            now = time.monotonic()
            self.down_since = self.down_since or now
            self._failures += 1
            if self.opened_at is not None:  # the half-open call failed: open again, quietly
                self.opened_at = now
            elif self._failures >= self.failures_to_open:
                self.opened_at = now
                log.error("redis unavailable (%s: %s): circuit open, Redis asked again every %.1f s; see "
                          "wxbot.cache for what goes on without it", type(exc).__name__, exc,
                          self.reset_seconds)  # fmt: skip

    def answered(self) -> None:
        if self._failures == 0:  # the usual case: no lock taken
            return
        with self._mutex:
            if self.opened_at is not None and self.down_since is not None:
                log.warning(
                    "redis available again after %.1f s: circuit closed", time.monotonic() - self.down_since
                )
            self._failures, self.opened_at, self.down_since, self._trying = 0, None, None, False


_DELETE_IF_EQUALS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_INCR_WITH_TTL = """
local v = redis.call('incr', KEYS[1])
if v == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
return v
"""


class RedisCache(_Locks):
    def __init__(self, url: str, prefix: str = "wxbot:", *, socket_timeout: float = 0.5, breaker_failures: int = 3,
                 breaker_reset_seconds: float = 5.0) -> None:  # fmt: skip
        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self.prefix = prefix
        self._delete_if_equals = self.client.register_script(_DELETE_IF_EQUALS)
        self._incr_with_ttl = self.client.register_script(_INCR_WITH_TTL)
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_seconds)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _call(self, command: Callable[[], T]) -> T:
        self.breaker.allow()
        try:
            result = command()
        except redis.RedisError as exc:
            self.breaker.failed(exc)
            raise
        self.breaker.answered()
        return result

    def ping(self) -> None:
        self._call(self.client.ping)

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


def make_cache(settings: RedisSettings) -> Cache:
    if not settings.url:
        return InProcessCache()
    return RedisCache(settings.url, settings.prefix, socket_timeout=settings.socket_timeout_seconds,
                      breaker_failures=settings.breaker_failures,
                      breaker_reset_seconds=settings.breaker_reset_seconds)  # fmt: skip
