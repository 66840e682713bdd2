"""The console's login limits: they stop a guesser, not the colleagues behind the same address. Only failures
count.

Per username: the first [console] login_attempts failures (5) cost nothing; from then on each failure locks
the username for a delay that doubles from 1 minute to at most 15 minutes; a success resets it, and failures
are forgotten a day after the last one. Per address: at most [console] login_failures_per_address failures
(100) in a 15-minute window, so that a guesser sweeping usernames from one address stops while an office
behind one NAT never notices.

Both live in the shared cache, timed by wxbot.clock (the cache's own expiry only clears old keys). One login
attempt on a username at a time (the username's cache lock): parallel guesses cannot slip past the count.
When the cache does not answer, logins fail closed (wxbot.cache).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

from wxbot import clock
from wxbot.cache import Cache
from wxbot.config.schema import ConsoleSettings

FIRST_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 15 * 60
ADDRESS_WINDOW_SECONDS = 15 * 60
FORGET_SECONDS = 24 * 3600
TURN_SECONDS = 30  # an attempt holds its username this long at most (a password check takes milliseconds)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LoginLimits:
    def __init__(self, cache: Cache, settings: ConsoleSettings, username: str, address: str) -> None:
        self.cache, self.settings = cache, settings
        self.user = _digest(username)
        self.user_key = f"console:login:user:{self.user}"
        self._address = _digest(address)

    def _address_key(self, now: int) -> tuple[str, int]:
        window = now // ADDRESS_WINDOW_SECONDS
        return f"console:login:addr:{self._address}:{window}", (window + 1) * ADDRESS_WINDOW_SECONDS - now

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """This username's turn to try a password; False while another attempt on it is under way."""
        token = self.cache.try_lock(f"console-login:{self.user}", TURN_SECONDS)
        try:
            yield token is not None
        finally:
            if token is not None:
                self.cache.release(f"console-login:{self.user}", token)

    def wait_seconds(self) -> tuple[str, int] | None:
        """Why and how long the attempt must wait ("user" or "address"), or None when it may go on."""
        now = clock.timestamp()
        state = json.loads(self.cache.get(self.user_key) or "{}")
        if state.get("until", 0) > now:
            return "user", int(state["until"]) - now
        key, left = self._address_key(now)
        if int(self.cache.get(key) or 0) >= self.settings.login_failures_per_address:
            return "address", left
        return None

    def failed(self) -> int:
        """Count a failure; returns how long the username is now locked (0: not locked)."""
        now = clock.timestamp()
        key, left = self._address_key(now)
        self.cache.incr(key, left)
        state = json.loads(self.cache.get(self.user_key) or "{}")
        failures = int(state.get("failures", 0)) + 1
        over = failures - self.settings.login_attempts
        lock = min(FIRST_LOCK_SECONDS * 2 ** min(over, 10), MAX_LOCK_SECONDS) if over >= 0 else 0
        self.cache.set(self.user_key, json.dumps({"failures": failures, "until": now + lock}), FORGET_SECONDS)
        return lock

    def succeeded(self) -> None:
        self.cache.delete(self.user_key)
