"""Concurrent callers of one key share one call; failures reach all; a departing caller cancels nothing."""

from __future__ import annotations

import asyncio

import pytest

from app.core.singleflight import SingleFlight


async def test_concurrent_callers_share_one_call_and_later_ones_call_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def read() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    waiters = [asyncio.create_task(flight.run("k", read)) for _ in range(16)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [1] * 16
    assert calls == 1
    assert await flight.run("k", read) == 2, "a finished call is not reused"
    assert await flight.run("other", read) == 3, "keys do not share"


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    flight: SingleFlight[int] = SingleFlight()
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("database down")

    results = await asyncio.gather(*(flight.run("k", failing) for _ in range(4)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 4
    assert attempts == 1
    with pytest.raises(ConnectionError):
        await flight.run("k", failing)
    assert attempts == 2


async def test_a_cancelled_waiter_does_not_cancel_the_shared_call() -> None:
    flight: SingleFlight[str] = SingleFlight()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    leaving = asyncio.create_task(flight.run("k", slow))
    staying = asyncio.create_task(flight.run("k", slow))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == "done"
    assert leaving.cancelled()
