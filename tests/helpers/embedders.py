"""Embedders for tests at the embedding-provider seam: the real MiniLM, a fast hashing one, a failing one."""

from __future__ import annotations

import hashlib
import math

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from app.embed.base import Embedder


class HashEmbedding(BaseEmbedding):
    """Deterministic unit vectors from the text's hash: same text, same vector; no model needed."""

    dim: int = 384
    calls: int = 0
    texts_embedded: int = 0
    _fail_after: int | None = PrivateAttr(default=None)

    def fail_after(self, batches: int | None) -> None:
        """Raise on the batch after ``batches`` successful ones (a crash in the middle of an ingest)."""
        self._fail_after = batches

    def _vector(self, text: str) -> list[float]:
        digest = hashlib.sha512(text.encode()).digest()
        raw = [((digest[i % 64] + i * 31) % 251) / 125.0 - 1.0 for i in range(self.dim)]
        norm = math.sqrt(sum(v * v for v in raw)) or 1.0
        return [v / norm for v in raw]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        if self._fail_after is not None and self.calls >= self._fail_after:
            raise RuntimeError("injected crash in the middle of an ingest")
        self.calls += 1
        self.texts_embedded += len(texts)
        return [self._vector(t) for t in texts]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def get_query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Batched questions, as the local and remote embedders take them (one call, may fail)."""
        return self._get_text_embeddings(queries)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


def hash_embedder(model_id: str = "all-MiniLM-L6-v2") -> tuple[Embedder, HashEmbedding]:
    """An Embedder that claims the default table's identity, so tests use the migrated table."""
    model = HashEmbedding(model_name="hash", embed_batch_size=64)
    return Embedder(model_id, 384, lambda: model), model
