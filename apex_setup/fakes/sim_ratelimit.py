"""Rate limits as Discord applies them, on a clock the test controls.

Model: each route has buckets keyed by (bot, route, top-level resource) - the channel for message
routes, the guild for channel and role creation - holding ``limit`` requests per fixed window of
``per_seconds`` that starts at the bucket's first request. Above the buckets sits a global limit per
bot (Discord's 50 requests per second). Separately, Discord bans a client that makes 10,000 invalid
requests (401, 403, 429) in 10 minutes; the limiter counts them and refuses everything while the
count is at the limit.

Invariants:
- ``check`` decides before it spends: a refused request (429) consumes nothing from any bucket, so
  it has no effect at all, exactly like Discord's 429.
- ``retry_after`` is the time until the refusing bucket's window ends, always > 0.
- Numbers are configuration, not constants: Discord does not publish them and changes them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_ROUTE_LIMITS", "RateLimitConfig", "RateLimitHit", "RateLimiter"]

#: Discord-like defaults: sends 5 per 5 s per channel, deletes 5 per second per channel, and the
#: structural routes (channels, roles) far stricter per guild. Reads only meet the global limit.
DEFAULT_ROUTE_LIMITS: Mapping[str, tuple[int, float]] = {
    "send_message": (5, 5.0),
    "edit_message": (5, 5.0),
    "delete_message": (5, 1.0),
    "create_channel": (5, 10.0),
    "delete_channel": (5, 10.0),
    "create_role": (5, 10.0),
    "delete_role": (5, 10.0),
}


@dataclass(frozen=True)
class RateLimitConfig:
    """Per-route buckets (route -> (limit, per_seconds)), a global limit and the invalid-request
    rule; ``None`` switches a rule off."""

    routes: Mapping[str, tuple[int, float]] = field(
        default_factory=lambda: dict(DEFAULT_ROUTE_LIMITS)
    )
    global_limit: tuple[int, float] | None = (50, 1.0)
    invalid_requests: tuple[int, float] | None = (10_000, 600.0)

    @classmethod
    def disabled(cls) -> RateLimitConfig:
        """No limits at all, for tests that are not about rate limits."""
        return cls(routes={}, global_limit=None, invalid_requests=None)

    def with_route(self, route: str, limit: int, per_seconds: float) -> RateLimitConfig:
        """A copy with one route's bucket replaced."""
        routes = dict(self.routes)
        routes[route] = (limit, per_seconds)
        return RateLimitConfig(routes, self.global_limit, self.invalid_requests)


@dataclass(frozen=True)
class RateLimitHit:
    """Why a request was refused: seconds to wait and Discord's ``X-RateLimit-Scope``."""

    retry_after: float
    scope: str  # "user" for a route bucket, "global" for the global limit or a ban
    bucket: str


@dataclass
class _Window:
    start: float
    used: int = 0


class RateLimiter:
    """Fixed-window buckets over seconds from any monotonic source (the simulator's clock)."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._windows: dict[tuple[object, ...], _Window] = {}
        self._invalid: deque[float] = deque()

    def check(
        self, bot_id: int, route: str, resource_id: int | None, now: float
    ) -> RateLimitHit | None:
        """Spend one request from every bucket that applies, or spend nothing and say why not."""
        banned = self._ban(now)
        if banned is not None:
            return banned
        buckets: list[tuple[tuple[object, ...], int, float, str]] = []
        if self.config.global_limit is not None:
            limit, per = self.config.global_limit
            buckets.append((("global", bot_id), limit, per, "global"))
        route_limit = self.config.routes.get(route)
        if route_limit is not None:
            limit, per = route_limit
            buckets.append((("route", bot_id, route, resource_id), limit, per, "user"))

        # Decide first, over every bucket; spend only when all of them have room.
        windows: list[_Window] = []
        for key, limit, per, scope in buckets:
            window = self._window(key, per, now)
            if window.used >= limit:
                return RateLimitHit(window.start + per - now, scope, f"{key[0]}:{route}")
            windows.append(window)
        for window in windows:
            window.used += 1
        return None

    def record_invalid(self, now: float) -> None:
        """Count a 401, 403 or 429 answer towards the invalid-request rule."""
        self._invalid.append(now)

    def invalid_count(self, now: float) -> int:
        """Invalid requests within the rule's window (all of them when the rule is off)."""
        self._expire(now)
        return len(self._invalid)

    def _window(self, key: tuple[object, ...], per: float, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.start + per:
            window = _Window(start=now)
            self._windows[key] = window
        return window

    def _expire(self, now: float) -> None:
        rule = self.config.invalid_requests
        if rule is None:
            return
        _, per = rule
        while self._invalid and self._invalid[0] <= now - per:
            self._invalid.popleft()

    def _ban(self, now: float) -> RateLimitHit | None:
        rule = self.config.invalid_requests
        if rule is None:
            return None
        limit, per = rule
        self._expire(now)
        if len(self._invalid) < limit:
            return None
        # The ban lifts when enough old invalid requests leave the window.
        oldest_to_leave = self._invalid[len(self._invalid) - limit]
        return RateLimitHit(oldest_to_leave + per - now, "global", "invalid-requests")
