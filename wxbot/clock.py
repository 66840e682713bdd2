"""The one source of time. Domain code calls clock.now(); tests freeze or move it.

All datetimes stored in the database are naive UTC.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """Current time as naive UTC."""
    source = _source
    if source is not None:
        return source()
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp() -> int:
    """Current unix time in whole seconds."""
    return int(now().replace(tzinfo=UTC).timestamp())


class FrozenClock:
    """A clock that stands still until moved; install() makes it the source of clock.now()."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.current += delta or timedelta(**kwargs)
        return self.current

    def set(self, value: datetime) -> None:
        self.current = value

    def install(self) -> FrozenClock:
        global _source
        with _lock:
            _source = self
        return self

    @staticmethod
    def uninstall() -> None:
        global _source
        with _lock:
            _source = None
