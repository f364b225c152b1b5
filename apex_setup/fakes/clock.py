"""A virtual clock: time moves only when a test (or a simulated wait) moves it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["FakeClock"]


class FakeClock:
    """Implements the core's Clock port. ``sleep`` advances time instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        #: Every sleep requested, in seconds, for assertions on backoff.
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        self._now += timedelta(seconds=seconds, **delta)
        return self._now
