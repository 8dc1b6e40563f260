"""Hybrid retrieval: dense (HNSW) and BM25 ranked lists, fused by weighted reciprocal rank, one hit per page.

PGVectorStore's HYBRID mode only concatenates the two lists, so the fusion is ours: a chunk's
score is the sum over the lists it appears in of ``weight / (k + rank)`` (RRF, k = 60, Cormack
et al.). The weights were chosen on the dev half of the golden set (docs/evals.md): BM25 is the
stronger single retriever there, corpus-wide and within a document, so it weighs more.

A citation is a page, so the fused chunks are then aggregated by page: a page is ranked once,
by its best chunk (MaxP), and that chunk is its passage. Without aggregation, three chunks of
one page would take three of the top five places.

If the question cannot be embedded (a remote embedder down), BM25 alone answers, and the
result says so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from app.core.errors import EmbeddingUnavailable
from app.core.logging import get_logger
from app.embed.base import Embedder
from app.embed.batcher import QueryBatcher
from app.rag.rerank import Reranker
from app.store.search import Hit, VectorSearch

log = get_logger(__name__)

RRF_K = 60
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 1.5  # chosen on the dev split (docs/evals.md, "Fusion weights"); test split reported


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    mode: str  # "hybrid" | "full_text_only"
    dense: list[Hit] = field(default_factory=list)  # each retriever's own list, best first, before fusion
    lexical: list[Hit] = field(default_factory=list)


def fuse(
    ranked_lists: Sequence[Sequence[Hit]],
    *,
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
    top_k: int | None = 10,
) -> list[Hit]:
    """Weighted reciprocal-rank fusion; the returned hits carry the fused score (ties keep first-seen order)."""
    weights = list(weights) if weights is not None else [1.0] * len(ranked_lists)
    if len(weights) != len(ranked_lists):
        raise ValueError("one weight per ranked list")
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for weight, hits in zip(weights, ranked_lists, strict=True):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.node_id] = scores.get(hit.node_id, 0.0) + weight / (k + rank)
            first.setdefault(hit.node_id, hit)
    ordered = sorted(scores, key=lambda node_id: -scores[node_id])
    if top_k is not None:
        ordered = ordered[:top_k]
    return [replace(first[node_id], score=round(scores[node_id], 6)) for node_id in ordered]


def best_per_page(hits: Sequence[Hit], top_k: int | None = None) -> list[Hit]:
    """One hit per (document, page): its best-ranked chunk, in the order of the input."""
    seen: set[tuple[uuid.UUID, int]] = set()
    pages: list[Hit] = []
    for hit in hits:
        key = (hit.document_id, hit.page)
        if key in seen:
            continue
        seen.add(key)
        pages.append(hit)
        if top_k is not None and len(pages) == top_k:
            break
    return pages


class HybridRetriever:
    def __init__(
        self,
        search: VectorSearch,
        embedder: Embedder,
        *,
        candidates: int = 40,
        dense_weight: float = DENSE_WEIGHT,
        lexical_weight: float = LEXICAL_WEIGHT,
        reranker: Reranker | None = None,
    ) -> None:
        self.search = search
        self.embedder = embedder
        self.candidates = candidates
        self.weights = (dense_weight, lexical_weight)
        self.reranker = reranker  # none by default (app/rag/rerank.py)
        self.queries = QueryBatcher(embedder)

    async def retrieve(
        self,
        question: str,
        *,
        top_k: int = 8,
        document_ids: Sequence[uuid.UUID] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Retrieval:
        """The ``top_k`` best pages (one passage each) for the question, within the optional filters."""
        # chunks, not pages, are ranked first: several may share a page, so ask each side for more
        pool = max(self.candidates, top_k * 3)
        full_text = asyncio.create_task(
            self.search.full_text(question, top_k=pool, document_ids=document_ids, tags=tags)
        )
        try:
            # batched with concurrent requests' questions, in a thread (the local model computes on the CPU)
            embedding = await self.queries.embed(question)
        except EmbeddingUnavailable as exc:
            log.warning("query embedding failed; answering from full-text search alone", error=exc.message)
            lexical = await full_text
            return Retrieval(best_per_page(lexical, top_k), "full_text_only", lexical=lexical)
        dense = await self.search.dense(embedding, top_k=pool, document_ids=document_ids, tags=tags)
        lexical = await full_text
        fused = fuse([dense, lexical], weights=self.weights, top_k=None)
        if self.reranker is not None:
            fused = await self._reranked(question, fused)
        return Retrieval(best_per_page(fused, top_k), "hybrid", dense=dense, lexical=lexical)

    async def _reranked(self, question: str, fused: list[Hit]) -> list[Hit]:
        """The reranker's order of the fused candidates; anything it invents is dropped."""
        assert self.reranker is not None
        known = {hit.node_id for hit in fused}
        return [hit for hit in await self.reranker.rerank(question, fused) if hit.node_id in known]
