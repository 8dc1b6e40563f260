"""FakeProvider: a provider with queued replies, at the router's declared seam (the Provider protocol)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import ProviderError
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage


@dataclass
class Reply:
    """What one call does: answer ``text`` (word by word), wait ``delay`` first, or fail (before or mid-stream)."""

    text: str = "ok"
    delay: float = 0.0
    error: ProviderError | None = None
    fail_after_words: int | None = None


class FakeProvider:
    def __init__(self, name: str, model: str = "fake-model", *, default: str = "answer", **config: float) -> None:
        self.name = name
        self.model = model
        self.config = ProviderConfig(**{"timeout": 1.0, "retries": 1, "cooldown": 60.0, **config})  # type: ignore[arg-type]
        self.default = Reply(text=default)
        self.queue: deque[Reply | ProviderError] = deque()
        self.calls = 0
        self.closed = 0

    def then(self, *replies: Reply | ProviderError | str) -> FakeProvider:
        self.queue.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)
        return self

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        self.calls += 1
        item = self.queue.popleft() if self.queue else self.default
        reply = Reply(error=item) if isinstance(item, ProviderError) else item
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            words = reply.text.split(" ")
            for i, word in enumerate(words):
                if reply.error is not None and (reply.fail_after_words is None or i == reply.fail_after_words):
                    raise reply.error
                yield Delta(text=word if i == 0 else " " + word)
            yield Delta(usage=Usage(prompt_tokens=10, completion_tokens=len(words)), finish_reason="stop")
        finally:
            self.closed += 1


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def drain(stream: AsyncIterator[Any], into: list[Any]) -> None:
    """Consume a stream into ``into`` (so a test can assert on what arrived before it failed)."""
    async for item in stream:
        into.append(item)
