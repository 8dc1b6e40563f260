"""Fixed-window rate limits, exact across worker processes (one atomic Redis script), in-process without Redis.

A limit is "N/second|minute|hour|day". Each window has its own counter key that expires with the
window, so the total over all workers never exceeds N in a window. Redis failing mid-request
serves the request (with a warning): a limiter outage must not take the API down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.logging import get_logger
from app.core.rates import Rate

log = get_logger(__name__)


# KEYS[1] counter; ARGV[1] window ms. Returns {count, ms left in the window}.
_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the current window ends

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_seconds))


class RateLimiter:
    def __init__(
        self, redis: Redis | None, *, prefix: str = "pagewise:ratelimit", clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self._local: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._script = redis.register_script(_SCRIPT) if redis is not None else None

    def _window(self, rate: Rate) -> tuple[int, float]:
        now = self.clock()
        index = int(now // rate.seconds)
        return index, (index + 1) * rate.seconds - now

    async def hit(self, bucket: str, rate: Rate, *, cost: int = 1) -> Decision:
        """Count one request against ``bucket``; allowed while the window's count stays within the limit."""
        index, left = self._window(rate)
        key = f"{self.prefix}:{bucket}:{rate.seconds}:{index}"
        count = await self._count(key, rate, left, cost)
        return Decision(count <= rate.amount, rate.amount, max(0, rate.amount - count), left)

    async def peek(self, bucket: str, rate: Rate) -> Decision:
        """The current window's state without counting a request."""
        index, left = self._window(rate)
        key = f"{self.prefix}:{bucket}:{rate.seconds}:{index}"
        count = 0
        if self.redis is not None:
            try:
                count = int(await self.redis.get(key) or 0)
            except RedisError as exc:
                log.warning("rate-limit state unavailable", error=str(exc))
        else:
            count = self._local.get(key, (0, 0.0))[0]
        return Decision(count < rate.amount, rate.amount, max(0, rate.amount - count), left)

    async def _count(self, key: str, rate: Rate, left: float, cost: int) -> int:
        if self._script is not None:
            try:
                count = 0
                for _ in range(cost):
                    count, _ttl = await self._script(keys=[key], args=[max(1, int(left * 1000))])
                return int(count)
            except RedisError as exc:
                log.warning("rate limiter cannot reach Redis; serving the request unlimited", error=str(exc))
                return 0
        now = self.clock()
        self._local = {k: v for k, v in self._local.items() if v[1] > now} if len(self._local) > 10_000 else self._local
        count = self._local.get(key, (0, now + left))[0] + cost
        self._local[key] = (count, now + left)
        return count
