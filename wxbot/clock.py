"""The one source of time. Domain code calls clock.now(); tests freeze or move it.

All datetimes stored in the database are naive UTC. People read them in a zone: the configured one
([app] timezone) or an event's own offset; the helpers at the bottom turn one into the other.
"""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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


# ---------------------------------------------------------------- local time

Zone = str | tzinfo  # an IANA name ("Asia/Shanghai") or a tzinfo (an event's fixed offset)


def local_zone(zone: Zone) -> tzinfo:
    return zoneinfo.ZoneInfo(zone) if isinstance(zone, str) else zone


def to_local(at: datetime, zone: Zone) -> datetime:
    """A stored moment (naive UTC) as an aware datetime in `zone`."""
    return at.replace(tzinfo=UTC).astimezone(local_zone(zone))


def to_utc(local: datetime) -> datetime:
    """An aware datetime as a stored moment (naive UTC)."""
    return local.astimezone(UTC).replace(tzinfo=None)


def local_text(at: datetime | None, zone: Zone, fmt: str = "%Y-%m-%d %H:%M", *, empty: str = "") -> str:
    """A stored moment as people in `zone` read it; `empty` when there is none."""
    return empty if at is None else to_local(at, zone).strftime(fmt)


def local_iso(at: datetime | None, zone: Zone) -> str | None:
    return None if at is None else to_local(at, zone).isoformat(timespec="seconds")


def local_day(at: datetime, zone: Zone) -> date:
    return to_local(at, zone).date()


def next_local_midnight(at: datetime, zone: Zone) -> datetime:
    """The next 00:00 in `zone` after `at` (naive UTC in, naive UTC out)."""
    tomorrow = local_day(at, zone) + timedelta(days=1)
    return to_utc(datetime.combine(tomorrow, time(0, 0), tzinfo=local_zone(zone)))
