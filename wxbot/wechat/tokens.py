"""Access tokens: one per appid, shared by every process through the cache (Redis in production), with a
copy in the database (the vault, wxbot.token_vault) for when the cache does not answer.

The cache holds the token until shortly before it expires, so readers never hand out a token about to die.
Refreshing is done by one holder at a time, under the vault's lock (a database row lock), which holds with
or without Redis: whoever waited finds the fresh token in the vault. In `stable` mode tokens come from
cgi-bin/stable_token without force_refresh, which never invalidates a token another holder still uses; in
`classic` mode from cgi-bin/token, where every fetch replaces the previous token, so the lock is essential.

When the cache does not answer, a process goes on with the token it holds until the cache would have let it
go; a process that holds none asks the vault (and refreshes under its lock when the vault's token is gone).

A call that fails with a token error hands back the token it used (replace()): the replacement is the current
token if another holder already replaced the failing one, else a fresh fetch, so a burst of failures with one
token causes one refresh. "The current one" means the current *fetch*: each stored token carries a fetch id,
because stable_token may hand out the very same token string again. A token WeChat refuses again right after
that refresh is marked refused in the vault (refuse()): no holder refreshes for it again, until it changes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any, NamedTuple, Protocol

from wxbot import metrics
from wxbot.cache import Cache, CacheUnavailable
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
    stored: str  # the cache entry it came from (fetch id + token): what replace() compares

    @property
    def fetch_id(self) -> str:
        return self.stored.partition(".")[0]


class TokenVault(Protocol):
    """The tokens' copy that every process reaches without the cache (wxbot.token_vault)."""

    def locked(self, appid: str, decide: Callable[[str | None], str]) -> str: ...
    def refused(self, appid: str) -> str | None: ...
    def refuse(self, appid: str, fetch_id: str) -> None: ...


def _held(stored: str) -> HeldToken:
    return HeldToken(stored.partition(".")[2], stored)


def _cached_until(stored: str) -> float:
    """When the cache lets this entry go (wall clock), from its fetch id "<uuid>@<epoch seconds>"."""
    try:
        return float(stored.partition(".")[0].partition("@")[2])
    except ValueError:
        return 0.0


def _usable(stored: str | None) -> bool:
    return bool(stored) and _cached_until(stored or "") > time.time()


class TokenStore:
    def __init__(self, cache: Cache, vault: TokenVault) -> None:
        self._cache = cache
        self.vault = vault
        self._fetchers: dict[str, Fetch] = {}
        # appid -> (the token this process holds, monotonic time until which it reuses it unasked)
        self._memo: dict[str, tuple[HeldToken, float]] = {}
        self._refused: dict[str, str] = {}  # appid -> fetch id known to be refused (spares the vault)

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
        try:
            stored = self._cache.get(self._key(appid))
        except CacheUnavailable:
            if memo is not None and _usable(memo[0].stored):
                return memo[0]  # keep the token it holds; the cache would not have let it go yet
            stored = None
        return self._remember(appid, _held(stored) if stored else self._refresh(appid, None))

    def replace(self, appid: str, failing: HeldToken) -> HeldToken | None:
        """WeChat refused `failing`: the token to try once more, or None when `failing` is refused already
        after a refresh (then no refresh: the call fails, and is tried later with the same token)."""
        self._memo.pop(appid, None)
        if self._is_refused(appid, failing):
            self._remember(appid, failing)
            return None
        stored = None
        metrics.TOKEN_INVALIDATIONS.labels(appid).inc()
        with suppress(CacheUnavailable):
            self._cache.delete_if_equals(self._key(appid), failing.stored)
            stored = self._cache.get(self._key(appid))  # another holder's replacement, if any
        token = _held(stored) if stored else self._refresh(appid, failing)
        log.info("token error for %s; trying again with a %s token", appid,
                 "fresh" if token.stored != failing.stored else "current")  # fmt: skip
        return self._remember(appid, token)

    def refuse(self, appid: str, token: HeldToken) -> None:
        """WeChat refused `token` again right after a refresh: no refresh for it until the token changes."""
        if self._refused.get(appid) == token.fetch_id:
            return
        self._refused[appid] = token.fetch_id
        self.vault.refuse(appid, token.fetch_id)
        log.warning("token error for %s persists after a refresh: no more refreshes until its token changes",
                    appid)  # fmt: skip

    def _is_refused(self, appid: str, token: HeldToken) -> bool:
        if self._refused.get(appid) == token.fetch_id:
            return True
        refused = self.vault.refused(appid)
        if refused is not None:
            self._refused[appid] = refused
        return refused == token.fetch_id

    def _remember(self, appid: str, token: HeldToken) -> HeldToken:
        # never reused unasked past the moment the cache drops it: after that the token is about to expire
        memo_seconds = min(MEMO_SECONDS, _cached_until(token.stored) - time.time())
        self._memo[appid] = (token, time.monotonic() + max(memo_seconds, 0.0))
        return token

    def _refresh(self, appid: str, failing: HeldToken | None) -> HeldToken:
        def decide(stored: str | None) -> str:
            if stored and _usable(stored) and (failing is None or stored != failing.stored):
                return stored  # another holder fetched it (or the cache lost it): no fetch
            return self._fetch(appid)

        stored = self.vault.locked(appid, decide)
        with suppress(CacheUnavailable):
            ttl = _cached_until(stored) - time.time()
            if ttl > 0:
                self._cache.set(self._key(appid), stored, ttl=ttl)
        return _held(stored)

    def _fetch(self, appid: str) -> str:
        try:
            token, expires_in = self._fetchers[appid]()
        except Exception:
            metrics.TOKEN_FETCHES.labels(appid, "failed").inc()
            raise
        metrics.TOKEN_FETCHES.labels(appid, "ok").inc()
        ttl = expires_in - min(REFRESH_MARGIN_SECONDS, expires_in // 2)
        ttl = max(ttl, 1)
        log.info("fetched a new access token for %s (valid %ss)", appid, expires_in)
        return f"{uuid.uuid4().hex}@{int(time.time()) + ttl}.{token}"  # no dot before the token


def stable_token_fetcher(http: Http, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": False}
        return _token_answer("/cgi-bin/stable_token", lambda: http.request(
            "POST", f"{base_url}/cgi-bin/stable_token", json=body, timeout=timeout))  # fmt: skip

    return fetch


def classic_token_fetcher(http: Http, base_url: str, appid: str, secret: str, timeout: float) -> Fetch:
    def fetch() -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
        return _token_answer("/cgi-bin/token", lambda: http.request(
            "GET", f"{base_url}/cgi-bin/token", params=params, timeout=timeout))  # fmt: skip

    return fetch


def _token_answer(endpoint: str, send: Callable[[], Answer]) -> tuple[str, int]:
    errcode, started = metrics.UNAVAILABLE, time.perf_counter()
    try:
        token, expires_in = _read_token(send())  # cannot reach WeChat: WeChatUnavailable
        errcode = "0"
        return token, expires_in
    except WeChatError as exc:
        errcode = str(exc.errcode)
        raise
    finally:
        metrics.wechat_call(endpoint, errcode, time.perf_counter() - started)


def _read_token(response: Answer) -> tuple[str, int]:
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
