"""Access tokens: one per appid, shared by every process through the cache (Redis in production).

The cache holds the token until shortly before it expires, so readers never hand out a token about to die.
Refreshing is done by one holder at a time (a cache lock, then a second look: whoever waited finds the fresh
token). In `stable` mode tokens come from cgi-bin/stable_token without force_refresh, which never invalidates a
token another holder still uses; in `classic` mode from cgi-bin/token, where every fetch replaces the previous
token, so the lock is essential there.

A call that fails with a token error hands back the token it used: it is dropped only if it is still the
current one (compare-and-expire), so a burst of failures with one token causes one refresh, and a failure
with a token that was already replaced causes none. "The current one" means the current *fetch*: each stored
token carries a fetch id, because stable_token may hand out the very same token string again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from wxbot.cache import Cache
from wxbot.wechat.errors import WeChatError, WeChatUnavailable
from wxbot.wechat.http import Answer, Http

log = logging.getLogger(__name__)

# Refresh this long before WeChat says the token expires (at most half its life).
REFRESH_MARGIN_SECONDS = 300
# A process reuses the token it last read for this long without asking the cache again (the sender makes
# hundreds of calls a second). Safe: the cache lets a token go REFRESH_MARGIN_SECONDS before it expires, WeChat
# keeps a replaced token valid for 5 minutes, and a token error drops the process's copy at once.
MEMO_SECONDS = 10.0

Fetch = Callable[[], tuple[str, int]]


class HeldToken(NamedTuple):
    value: str  # what goes into ?access_token=
    stored: str  # the cache entry it came from (fetch id + token): what invalidate() compares


def _held(stored: str) -> HeldToken:
    return HeldToken(stored.partition(".")[2], stored)


def _cached_until(stored: str) -> float:
    """When the cache lets this entry go (wall clock), from its fetch id "<uuid>@<epoch seconds>"."""
    try:
        return float(stored.partition(".")[0].partition("@")[2])
    except ValueError:
        return 0.0


class TokenStore:
    def __init__(self, cache: Cache, *, stable: bool, lock_wait: float) -> None:
        self._cache = cache
        self._stable = stable
        self._lock_wait = lock_wait
        self._fetchers: dict[str, Fetch] = {}
        # appid -> (the token this process last read, monotonic time until which it reuses it)
        self._memo: dict[str, tuple[HeldToken, float]] = {}

    def add_app(self, appid: str, fetch: Fetch) -> None:
        self._fetchers[appid] = fetch

    @staticmethod
    def _key(appid: str) -> str:
        return f"wechat:token:{appid}"

    def get(self, appid: str) -> HeldToken:
        """The current token of `appid`, fetched from WeChat when there is none."""
        memo = self._memo.get(appid)
        if memo is not None and time.monotonic() < memo[1]:
            return memo[0]
        stored = self._cache.get(self._key(appid))
        token = _held(stored) if stored else self._refresh(appid)
        # never past the moment the cache drops it: after that the token is about to expire
        memo_seconds = min(MEMO_SECONDS, _cached_until(token.stored) - time.time())
        if memo_seconds > 0:
            self._memo[appid] = (token, time.monotonic() + memo_seconds)
        return token

    def invalidate(self, appid: str, failing: HeldToken) -> bool:
        """WeChat refused `failing`: drop it if it is still the current token. True when it was."""
        self._memo.pop(appid, None)
        return self._cache.delete_if_equals(self._key(appid), failing.stored)

    def _refresh(self, appid: str) -> HeldToken:
        lock_name = f"wechat:token-refresh:{appid}"
        deadline = time.monotonic() + self._lock_wait
        while (lock := self._cache.try_lock(lock_name, ttl=self._lock_wait * 2)) is None:
            current = self._cache.get(self._key(appid))
            if current:
                return _held(current)
            if time.monotonic() >= deadline:
                if self._stable:
                    # stable_token hands every caller the same token; fetching without the lock is safe.
                    return self._fetch(appid)
                raise WeChatUnavailable(f"access token refresh for {appid} is held elsewhere too long")
            time.sleep(0.01)
        try:
            current = self._cache.get(self._key(appid))
            if current:
                return _held(current)
            return self._fetch(appid)
        finally:
            self._cache.release(lock_name, lock)

    def _fetch(self, appid: str) -> HeldToken:
        token, expires_in = self._fetchers[appid]()
        ttl = expires_in - min(REFRESH_MARGIN_SECONDS, expires_in // 2)
        ttl = max(ttl, 1)
        stored = f"{uuid.uuid4().hex}@{int(time.time()) + ttl}.{token}"  # no dot before the token
        self._cache.set(self._key(appid), stored, ttl=ttl)
        log.info("fetched a new access token for %s (valid %ss)", appid, expires_in)
        return _held(stored)


def stable_token_fetcher(http: Http, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": False}
        return _token_answer(lambda: http.request("POST", f"{base_url}/cgi-bin/stable_token", json=body,
                                                  timeout=timeout))  # fmt: skip

    return fetch


def classic_token_fetcher(http: Http, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
        return _token_answer(lambda: http.request("GET", f"{base_url}/cgi-bin/token", params=params,
                                                  timeout=timeout))  # fmt: skip

    return fetch


def _token_answer(send: Callable[[], Answer]) -> tuple[str, int]:
    response = send()  # cannot reach WeChat: WeChatUnavailable
    if response.status_code >= 400:
        raise WeChatUnavailable(f"access token request answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise WeChatUnavailable("access token answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise WeChatUnavailable("access token answer is not a JSON object")
    errcode = _int(answer.get("errcode", 0))
    if errcode:
        raise WeChatError(errcode, str(answer.get("errmsg", "")))
    token, expires_in = answer.get("access_token"), _int(answer.get("expires_in", 7200))
    if not isinstance(token, str) or not token or expires_in <= 0:
        raise WeChatUnavailable("access token answer lacks access_token or expires_in")
    return token, expires_in


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
