"""The shared Redis client (asyncio, pooled), or None when REDIS_URL is unset.

Without Redis, rate limits, cache, memory and router cooldowns live in-process: correct for one
process only, so we say so once in the logs. With Redis, the pool reconnects by itself after an
outage; `/ready` reports it down meanwhile.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from app.core.errors import RedisUnavailable
from app.core.logging import get_logger

log = get_logger(__name__)

_warned_in_process = False


def create_redis(url: str | None, *, max_connections: int = 50, timeout: float = 2.0) -> Redis | None:
    """A pooled asyncio client for ``url``; None (with a one-time warning) when unset."""
    global _warned_in_process
    if not url:
        if not _warned_in_process:
            log.warning(
                "REDIS_URL is not set: rate limits, answer cache, memory and cooldowns are kept in this process "
                "only. Fine for a single process; set REDIS_URL when running several workers."
            )
            _warned_in_process = True
        return None
    # A blocking pool: a burst beyond max_connections waits up to `timeout` for a free connection
    # instead of failing at once with "Too many connections" (which made limits fail open).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
        decode_responses=False,
    )
    client: Redis = Redis.from_pool(pool)  # closing the client closes the pool
    return client


async def ping(client: Redis, timeout: float = 2.0) -> None:
    """Raise RedisUnavailable unless Redis answers PING within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except (TimeoutError, RedisError, OSError) as exc:
        raise RedisUnavailable(f"Redis did not answer: {type(exc).__name__}: {exc}") from exc
