"""The reranking seam: a second stage that may reorder the fused candidates before pages are picked.

None is configured by default, and none ships: no cross-encoder publishes its weights in a
registry package, and Pagewise never downloads weights at run time (FlashRank, for one, would).
A deployment that has a reranker (a cross-encoder in a package of its own, or a reranking
service) implements ``Reranker`` and passes it to ``HybridRetriever(reranker=…)``; the eval
(`python -m app eval`) is where it must show that it pays for its latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.store.search import Hit


class Reranker(Protocol):
    async def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` (fused, best first) reordered best first; it may drop hits, never add any."""
        ...
