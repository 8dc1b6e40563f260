"""Concurrent callers asking for the same thing share one call (Go's ``singleflight``).

When a cached value expires under load, every request in flight would otherwise miss at once and
each run the same database query; with this, one runs it and the others await its result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        """The result of ``call()``, shared with every caller that asks for ``key`` while it runs."""
        shared = self._calls.get(key)
        if shared is None:
            shared = asyncio.ensure_future(call())
            self._calls[key] = shared
            shared.add_done_callback(lambda done: self._forget(key, done))
        # shielded: a caller that goes away must not cancel the call the others are waiting on
        return await asyncio.shield(shared)

    def _forget(self, key: Hashable, done: asyncio.Future[T]) -> None:
        if self._calls.get(key) is done:
            del self._calls[key]
        if not done.cancelled():
            done.exception()  # retrieved here too, in case every waiter went away first
