"""The fixed-window limiter on a real redis-server and in-process, with a controllable clock."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from app.cache.ratelimit import RateLimiter
from app.core.rates import Rate
from tests.helpers.fake_provider import FakeClock
from tests.helpers.redis_server import RedisServer


async def _exactly_n_per_window(limiter: RateLimiter, clock: FakeClock) -> None:
    rate = Rate.parse("5/minute")
    decisions = await asyncio.gather(*(limiter.hit("key:a", rate) for _ in range(8)))
    assert sum(d.allowed for d in decisions) == 5
    assert min(d.remaining for d in decisions) == 0
    assert (await limiter.hit("key:b", rate)).allowed, "buckets are independent"
    peek = await limiter.peek("key:a", rate)
    assert (peek.allowed, peek.limit, peek.remaining) == (False, 5, 0)
    assert 0 < peek.reset_seconds <= 60
    clock.advance(60)
    assert (await limiter.hit("key:a", rate)).allowed, "a new window starts afresh"


async def test_redis_limiter_is_exact(redis_url: str) -> None:
    clock = FakeClock(1_800_000_000.0)
    client = Redis.from_url(redis_url)
    try:
        await _exactly_n_per_window(RateLimiter(client, clock=clock), clock)
    finally:
        await client.aclose()


async def test_in_process_limiter_is_exact() -> None:
    clock = FakeClock(1_800_000_000.0)
    await _exactly_n_per_window(RateLimiter(None, clock=clock), clock)


async def test_redis_down_keeps_each_process_to_its_share_and_says_so() -> None:
    server = RedisServer().start()
    client = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    clock = FakeClock(1_800_000_000.0)
    limiter = RateLimiter(client, processes=4, clock=clock)
    rate = Rate.parse("10/minute")
    try:
        shared = await limiter.hit("k", rate)
        assert (shared.allowed, shared.limit, shared.remaining, shared.scope) == (True, 10, 9, "shared")
        server.stop()
        decisions = [await limiter.hit("k", rate) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False], "ceil(10 / 4) = 3 per process"
        assert {(d.limit, d.scope) for d in decisions} == {(3, "process")}
        assert decisions[2].remaining == 0
        peek = await limiter.peek("k", rate)
        assert (peek.allowed, peek.remaining, peek.scope) == (False, 0, "process")
        clock.advance(60)
        assert (await limiter.hit("k", rate)).allowed, "the local window ends like the shared one"
        server.start()
        back = await limiter.hit("k", rate)
        assert (back.scope, back.limit) == ("shared", 10), "Redis back: the shared counter again"
    finally:
        await client.aclose()
        server.stop()


async def test_in_process_limiter_splits_the_limit_over_worker_processes() -> None:
    limiter = RateLimiter(None, processes=2, clock=FakeClock(1_800_000_000.0))
    decisions = [await limiter.hit("k", Rate.parse("5/minute")) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert {(d.limit, d.scope) for d in decisions} == {(3, "process")}


def test_rate_parsing() -> None:
    assert Rate.parse("60/minute") == Rate(60, 60)
    assert Rate.parse(" 5 / hours ") == Rate(5, 3600)
    for bad in ("0/minute", "ten/minute", "5/week", ""):
        try:
            Rate.parse(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
