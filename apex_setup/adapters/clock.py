"""The real clock."""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["SystemClock"]


class SystemClock:
    """Implements the core's Clock port with the system's UTC time."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
