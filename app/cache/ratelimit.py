"""Fixed-window rate limits, exact across worker processes (one atomic Redis script), in-process without Redis.

A limit is "N/second|minute|hour|day". Each window has its own counter key that expires with the
window, so the total over all workers never exceeds N in a window.

Without Redis (REDIS_URL unset, or while it cannot be reached) the limit still holds: each worker process counts locally and
allows its share, ``ceil(N / processes)``, so the total over all workers stays near N. The
decision says which counter it came from (``scope``: ``shared`` or ``process``), and the
X-RateLimit-Scope header passes that on, so headers never claim a shared budget that is not
being counted. Redis coming back switches to the shared counter again (its window may then
allow up to N more: the two counters are not merged).
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
    scope: str = "shared"  # "shared" (Redis, all workers) or "process" (this worker's share only)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_seconds))


class RateLimiter:
    def __init__(
        self,
        redis: Redis | None,
        *,
        processes: int = 1,
        prefix: str = "pagewise:ratelimit",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.processes = max(1, processes)
        self.prefix = prefix
        self.clock = clock
        self._local: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._script = redis.register_script(_SCRIPT) if redis is not None else None
        self._degraded = False  # Redis failed on the last call: counting locally

    def _window(self, rate: Rate) -> tuple[int, float]:
        now = self.clock()
        index = int(now // rate.seconds)
        return index, (index + 1) * rate.seconds - now

    def _share(self, rate: Rate) -> int:
        """What this process may allow on its own counter: its share of the limit over all worker processes."""
        return max(1, math.ceil(rate.amount / self.processes))

    async def hit(self, bucket: str, rate: Rate, *, cost: int = 1) -> Decision:
        """Count one request against ``bucket``; allowed while the window's count stays within the limit."""
        index, left = self._window(rate)
        key = f"{self.prefix}:{bucket}:{rate.seconds}:{index}"
        if self._script is not None:
            try:
                count = 0
                for _ in range(cost):
                    count, _ttl = await self._script(keys=[key], args=[max(1, int(left * 1000))])
                self._recovered()
                return Decision(int(count) <= rate.amount, rate.amount, max(0, rate.amount - int(count)), left)
            except RedisError as exc:
                self._failed(exc)
        limit = self._share(rate)
        count = self._count_locally(key, left, cost)
        return Decision(count <= limit, limit, max(0, limit - count), left, "process")

    async def peek(self, bucket: str, rate: Rate) -> Decision:
        """The current window's state without counting a request."""
        index, left = self._window(rate)
        key = f"{self.prefix}:{bucket}:{rate.seconds}:{index}"
        if self.redis is not None and not self._degraded:
            try:
                count = int(await self.redis.get(key) or 0)
                return Decision(count < rate.amount, rate.amount, max(0, rate.amount - count), left)
            except RedisError as exc:
                self._failed(exc)
        limit = self._share(rate)
        count = self._local.get(key, (0, 0.0))[0]
        return Decision(count < limit, limit, max(0, limit - count), left, "process")

    def _failed(self, exc: RedisError) -> None:
        if not self._degraded:
            log.warning(
                "rate limiter cannot reach Redis; each worker now enforces its share of every limit until it is back",
                error=str(exc),
                processes=self.processes,
            )
        self._degraded = True

    def _recovered(self) -> None:
        if self._degraded:
            log.info("rate limiter reaches Redis again; limits are shared by all workers")
        self._degraded = False

    def _count_locally(self, key: str, left: float, cost: int) -> int:
        now = self.clock()
        if len(self._local) > 10_000:
            self._local = {k: v for k, v in self._local.items() if v[1] > now}
        count = self._local.get(key, (0, now + left))[0] + cost
        self._local[key] = (count, now + left)
        return count
