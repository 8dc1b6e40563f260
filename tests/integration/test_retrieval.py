"""Hybrid retrieval on the embedded PostgreSQL with the real MiniLM; full text alone when embedding fails."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding

from app.core.errors import EmbeddingUnavailable
from app.embed.base import Embedder
from app.ingest.service import open_ingestor
from app.rag.retrieval import HybridRetriever
from app.settings import Settings
from app.store.search import Hit, VectorSearch
from tests.helpers.pdfs import make_pdf


class DownEmbedding(BaseEmbedding):
    """A remote embedder that is down (the seam: the embedding provider)."""

    def _get_query_embedding(self, query: str) -> list[float]:
        raise EmbeddingUnavailable("provider down")

    async def _aget_query_embedding(self, query: str) -> list[float]:
        raise EmbeddingUnavailable("provider down")

    def _get_text_embedding(self, text: str) -> list[float]:
        raise EmbeddingUnavailable("provider down")


async def test_hybrid_finds_by_meaning_and_by_rare_words_and_falls_back_to_full_text(
    make_settings: Callable[..., Settings], database_url: str, minilm: Embedder
) -> None:
    pages = [
        "The cafeteria menu changes every Monday and includes vegetarian dishes.",
        "Quarterly revenue increased by twelve percent, driven by strong subscription sales.",
        "Part number ZX-4471 must be replaced after 300 operating hours.",
        "The board approved a new dividend policy for shareholders.",
    ]
    async with open_ingestor(make_settings(), database_url, embedder=minilm) as ingestor:
        doc = await ingestor.ingest_bytes(make_pdf(pages), file_name="mixed.pdf", tags=["ops"])
        search = await VectorSearch.open(database_url, ingestor.table.index_name)
    try:
        retriever = HybridRetriever(search, minilm)
        by_meaning = await retriever.retrieve("How did sales and income grow?", top_k=2)
        assert by_meaning.mode == "hybrid"
        assert by_meaning.hits[0].page == 2
        by_code = await retriever.retrieve("When should ZX-4471 be swapped?", top_k=2)
        assert by_code.hits[0].page == 3
        assert by_code.hits[0].document_id == doc.document_id

        down = Embedder("all-MiniLM-L6-v2", 384, lambda: DownEmbedding(model_name="down"))
        fallback = await HybridRetriever(search, down).retrieve("dividend policy shareholders", top_k=2)
        assert fallback.mode == "full_text_only"
        assert fallback.hits[0].page == 4
        assert await retriever.retrieve("dividend", tags=["finance"]) == type(by_code)(hits=[], mode="hybrid")
    finally:
        await search.close()


class _ReverseAndInvent:
    """A reranker at the declared seam: reverses the candidates and adds one it was not given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        self.seen = [h.node_id for h in hits]
        invented = Hit("not-a-chunk", "made up", hits[0].document_id, 1, 99, "x.pdf", 9.9)
        return [invented, *reversed(hits)]


async def test_a_configured_reranker_orders_the_candidates_and_cannot_add_any(
    make_settings: Callable[..., Settings], database_url: str, minilm: Embedder
) -> None:
    pages = ["Apples are red.", "Bananas are yellow.", "Cherries are dark red."]
    async with open_ingestor(make_settings(), database_url, embedder=minilm) as ingestor:
        await ingestor.ingest_bytes(make_pdf(pages), file_name="fruit.pdf")
        search = await VectorSearch.open(database_url, ingestor.table.index_name)
    try:
        plain = await HybridRetriever(search, minilm).retrieve("red apples", top_k=3)
        reranker = _ReverseAndInvent()
        reranked = await HybridRetriever(search, minilm, reranker=reranker).retrieve("red apples", top_k=3)
        assert reranker.seen, "the reranker was asked"
        assert [h.page for h in reranked.hits] == [h.page for h in reversed(plain.hits)]
        assert all(h.node_id != "not-a-chunk" for h in reranked.hits)
    finally:
        await search.close()
