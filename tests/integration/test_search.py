"""Dense search returns only visible chunks: current versions, not deleted, matching the filters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from app.ingest.service import open_ingestor
from app.settings import Settings
from app.store.search import VectorSearch
from tests.helpers.embedders import hash_embedder
from tests.helpers.pdfs import make_pdf


async def test_filters_deletion_and_ef_override(make_settings: Callable[..., Settings], database_url: str) -> None:
    embedder, model = hash_embedder()
    async with open_ingestor(make_settings(), database_url, embedder=embedder) as ingestor:
        finance = await ingestor.ingest_bytes(
            make_pdf(["Revenue grew.", "Costs fell."]), file_name="f.pdf", tags=["finance"]
        )
        legal = await ingestor.ingest_bytes(
            make_pdf(["Contract terms.", "Liability clause."]), file_name="l.pdf", tags=["legal"]
        )
        index = ingestor.table.index_name
        engine = ingestor.engine
        search = await VectorSearch.open(database_url, index, ef_search=40)
        try:
            query = model.get_query_embedding("Revenue grew.")
            hits = await search.dense(query, top_k=10)
            assert len(hits) == 4
            assert (hits[0].page, hits[0].document_id, hits[0].version) == (1, finance.document_id, 1)
            assert hits[0].score == pytest.approx(1.0, abs=1e-5)
            assert hits[0].file_name == "f.pdf"

            assert {h.document_id for h in await search.dense(query, tags=["legal"])} == {legal.document_id}
            assert {h.document_id for h in await search.dense(query, tags=["finance", "legal"])} == {
                finance.document_id,
                legal.document_id,
            }
            only = await search.dense(query, document_ids=[legal.document_id], top_k=1)
            assert [h.document_id for h in only] == [legal.document_id]
            assert len(await search.dense(query, top_k=2, ef_search=10)) == 2

            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE documents SET deleted_at = now() WHERE id = :d"), {"d": finance.document_id}
                )
            assert {h.document_id for h in await search.dense(query)} == {legal.document_id}

            with pytest.raises(ValueError, match="top_k"):
                await search.dense(query, top_k=0)
        finally:
            await search.close()
