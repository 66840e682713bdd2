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

import requests

from wxbot.cache import Cache
from wxbot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

# Refresh this long before WeChat says the token expires (at most half its life).
REFRESH_MARGIN_SECONDS = 300

Fetch = Callable[[], tuple[str, int]]


class HeldToken(NamedTuple):
    value: str  # what goes into ?access_token=
    stored: str  # the cache entry it came from (fetch id + token): what invalidate() compares


def _held(stored: str) -> HeldToken:
    return HeldToken(stored.partition(".")[2], stored)


class TokenStore:
    def __init__(self, cache: Cache, *, stable: bool, lock_wait: float) -> None:
        self._cache = cache
        self._stable = stable
        self._lock_wait = lock_wait
        self._fetchers: dict[str, Fetch] = {}

    def add_app(self, appid: str, fetch: Fetch) -> None:
        self._fetchers[appid] = fetch

    @staticmethod
    def _key(appid: str) -> str:
        return f"wechat:token:{appid}"

    def get(self, appid: str) -> HeldToken:
        """The current token of `appid`, fetched from WeChat when there is none."""
        stored = self._cache.get(self._key(appid))
        return _held(stored) if stored else self._refresh(appid)

    def invalidate(self, appid: str, failing: HeldToken) -> bool:
        """WeChat refused `failing`: drop it if it is still the current token. True when it was."""
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
        stored = f"{uuid.uuid4().hex}.{token}"
        self._cache.set(self._key(appid), stored, ttl=max(ttl, 1))
        log.info("fetched a new access token for %s (valid %ss)", appid, expires_in)
        return _held(stored)


def stable_token_fetcher(http: Any, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": False}
        return _token_answer(lambda: http.request("POST", f"{base_url}/cgi-bin/stable_token", json=body,
                                                  timeout=timeout))  # fmt: skip

    return fetch


def classic_token_fetcher(http: Any, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
        return _token_answer(lambda: http.request("GET", f"{base_url}/cgi-bin/token", params=params,
                                                  timeout=timeout))  # fmt: skip

    return fetch


def _token_answer(send: Callable[[], requests.Response]) -> tuple[str, int]:
    try:
        response = send()
    except requests.RequestException as exc:
        raise WeChatUnavailable(f"access token request failed: {type(exc).__name__}") from exc
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
