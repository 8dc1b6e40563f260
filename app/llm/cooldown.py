"""Provider cooldowns with a half-open probe, in-process or shared by all workers through Redis.

A provider that failed is skipped until its cooldown ends; then exactly one request (the probe)
is let through. Its success closes the circuit; its failure trips it again. LiteLLM's default
cooldown only fires when a model group has several deployments, so a chain of single-model
providers like ours never cools down there; here every provider does.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.logging import get_logger

log = get_logger(__name__)

Clock = Callable[[], float]


class Admission(enum.Enum):
    HEALTHY = "healthy"
    PROBE = "probe"  # the one request allowed through after a cooldown
    BLOCKED = "blocked"


class Cooldowns(Protocol):
    async def admit(self, provider: str) -> Admission: ...

    async def trip(self, provider: str, seconds: float) -> None: ...

    async def success(self, provider: str) -> None:
        """Called after a PROBE succeeded: the provider is healthy again."""
        ...


class MemoryCooldowns:
    """One process's view (fine for a single worker; a warning says so when REDIS_URL is unset)."""

    def __init__(self, clock: Clock = time.monotonic, probe_timeout: float = 30.0) -> None:
        self.clock = clock
        self.probe_timeout = probe_timeout
        self._until: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}

    async def admit(self, provider: str) -> Admission:
        until = self._until.get(provider)
        if until is None:
            return Admission.HEALTHY
        now = self.clock()
        if now < until or now < self._probe_until.get(provider, 0.0):
            return Admission.BLOCKED
        self._probe_until[provider] = now + self.probe_timeout
        return Admission.PROBE

    async def trip(self, provider: str, seconds: float) -> None:
        self._until[provider] = self.clock() + seconds
        self._probe_until.pop(provider, None)

    async def success(self, provider: str) -> None:
        self._until.pop(provider, None)
        self._probe_until.pop(provider, None)


class RedisCooldowns:
    """Shared by every worker. Healthy and cooling states are cached locally so a skip costs no round trip."""

    HEALTHY_CACHE_SECONDS = 0.5

    def __init__(
        self, redis: Redis, *, prefix: str = "pagewise:cooldown", clock: Clock = time.time, probe_timeout: float = 30.0
    ):
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.probe_timeout = probe_timeout
        self._cooling_until: dict[str, float] = {}
        self._healthy_until: dict[str, float] = {}

    def _key(self, provider: str) -> str:
        return f"{self.prefix}:{provider}"

    async def admit(self, provider: str) -> Admission:
        now = self.clock()
        if now < self._cooling_until.get(provider, 0.0):
            return Admission.BLOCKED
        if now < self._healthy_until.get(provider, 0.0):
            return Admission.HEALTHY
        try:
            raw = await self.redis.get(self._key(provider))
            if raw is None:
                self._healthy_until[provider] = now + self.HEALTHY_CACHE_SECONDS
                return Admission.HEALTHY
            until = float(raw)
            if now < until:
                self._cooling_until[provider] = until
                return Admission.BLOCKED
            got_probe = await self.redis.set(
                f"{self._key(provider)}:probe", "1", nx=True, px=int(self.probe_timeout * 1000)
            )
        except RedisError as exc:
            log.warning("cooldown state unavailable, treating provider as healthy", provider=provider, error=str(exc))
            return Admission.HEALTHY
        return Admission.PROBE if got_probe else Admission.BLOCKED

    async def trip(self, provider: str, seconds: float) -> None:
        until = self.clock() + seconds
        self._cooling_until[provider] = until
        self._healthy_until.pop(provider, None)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                # the marker outlives the cooldown: once it has passed, the next caller is the probe
                pipe.set(self._key(provider), repr(until), px=int((seconds + 86_400) * 1000))
                pipe.delete(f"{self._key(provider)}:probe")
                await pipe.execute()
        except RedisError as exc:
            log.warning("could not share a cooldown through Redis", provider=provider, error=str(exc))

    async def success(self, provider: str) -> None:
        self._cooling_until.pop(provider, None)
        try:
            await self.redis.delete(self._key(provider), f"{self._key(provider)}:probe")
        except RedisError as exc:
            log.warning("could not clear a cooldown in Redis", provider=provider, error=str(exc))
