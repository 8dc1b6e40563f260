"""Cooldowns shared by workers through a real redis-server; Redis down never blocks a provider."""

from __future__ import annotations

from redis.asyncio import Redis

from app.llm.cooldown import Admission, RedisCooldowns
from tests.helpers.fake_provider import FakeClock
from tests.helpers.redis_server import RedisServer


async def test_a_trip_in_one_worker_is_seen_by_another_and_only_one_probe_runs(redis_url: str) -> None:
    clock = FakeClock(10_000.0)
    client_a, client_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    worker_a = RedisCooldowns(client_a, clock=clock, probe_timeout=30)
    worker_b = RedisCooldowns(client_b, clock=clock, probe_timeout=30)
    try:
        assert await worker_b.admit("groq") is Admission.HEALTHY
        await worker_a.trip("groq", 120)
        clock.advance(1)  # past worker_b's short "healthy" cache
        assert await worker_b.admit("groq") is Admission.BLOCKED
        clock.advance(120)
        admissions = [await worker_a.admit("groq"), await worker_b.admit("groq")]
        assert sorted(a.value for a in admissions) == ["blocked", "probe"], "one probe across all workers"
        prober = worker_a if admissions[0] is Admission.PROBE else worker_b
        await prober.success("groq")
        clock.advance(1)
        assert await worker_a.admit("groq") is Admission.HEALTHY
        assert await worker_b.admit("groq") is Admission.HEALTHY
    finally:
        await client_a.aclose()
        await client_b.aclose()


async def test_redis_down_treats_providers_as_healthy() -> None:
    server = RedisServer().start()
    client = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    cooldowns = RedisCooldowns(client, clock=FakeClock())
    try:
        server.stop()
        assert await cooldowns.admit("gemini") is Admission.HEALTHY
        await cooldowns.trip("gemini", 60)  # not shared, but remembered by this worker
        assert await cooldowns.admit("gemini") is Admission.BLOCKED
        await cooldowns.success("gemini")
    finally:
        await client.aclose()
        server.stop()
