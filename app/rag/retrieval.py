"""Hybrid retrieval: dense (HNSW) and full-text ranked lists fused by reciprocal rank (RRF).

PGVectorStore's HYBRID mode only concatenates the two lists, so the fusion is ours: a chunk's
score is the sum of 1 / (k + rank) over the lists it appears in (k = 60, as in Cormack et al.).
If the question cannot be embedded (a remote embedder down), full text alone answers, and the
result says so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.core.errors import EmbeddingUnavailable
from app.core.logging import get_logger
from app.embed.base import Embedder
from app.embed.batcher import QueryBatcher
from app.store.search import Hit, VectorSearch

log = get_logger(__name__)

RRF_K = 60


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    mode: str  # "hybrid" | "full_text_only"


def fuse(ranked_lists: Sequence[Sequence[Hit]], *, k: int = RRF_K, top_k: int = 10) -> list[Hit]:
    """Reciprocal-rank fusion; the returned hits carry the fused score."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in ranked_lists:
        for rank, hit in enumerate(hits, start=1):
            scores[hit.node_id] = scores.get(hit.node_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.node_id, hit)
    ordered = sorted(scores, key=lambda node_id: -scores[node_id])[:top_k]
    return [replace(first[node_id], score=round(scores[node_id], 6)) for node_id in ordered]


class HybridRetriever:
    def __init__(self, search: VectorSearch, embedder: Embedder, *, candidates: int = 30) -> None:
        self.search = search
        self.embedder = embedder
        self.candidates = candidates
        self.queries = QueryBatcher(embedder)

    async def retrieve(
        self,
        question: str,
        *,
        top_k: int = 8,
        document_ids: Sequence[uuid.UUID] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Retrieval:
        pool = max(self.candidates, top_k)
        full_text = asyncio.create_task(
            self.search.full_text(question, top_k=pool, document_ids=document_ids, tags=tags)
        )
        try:
            # batched with concurrent requests' questions, in a thread (the local model computes on the CPU)
            embedding = await self.queries.embed(question)
        except EmbeddingUnavailable as exc:
            log.warning("query embedding failed; answering from full-text search alone", error=exc.message)
            return Retrieval(hits=fuse([await full_text], top_k=top_k), mode="full_text_only")
        dense = await self.search.dense(embedding, top_k=pool, document_ids=document_ids, tags=tags)
        return Retrieval(hits=fuse([dense, await full_text], top_k=top_k), mode="hybrid")
