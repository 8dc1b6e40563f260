"""BM25 over the visible chunks: the scores are textbook BM25, and they follow versions, deletes and restores."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.ingest.service import open_ingestor
from app.settings import Settings
from app.store import catalog, lexical
from app.store.search import VectorSearch
from app.store.vector_schema import TEXT_SEARCH_CONFIG, table_for
from tests.helpers.embedders import hash_embedder
from tests.helpers.pdfs import make_pdf


async def _reference_bm25(conn: AsyncConnection, question: str, chunk_texts: dict[str, str]) -> dict[str, float]:
    """BM25 computed here, from PostgreSQL's lexemes of each visible chunk: what the SQL must agree with."""
    lexemes: dict[str, Counter[str]] = {}
    for node_id, body in chunk_texts.items():
        rows = (
            await conn.execute(
                text(
                    f"SELECT lexeme, coalesce(array_length(positions, 1), 1) FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', :t))"
                ),
                {"t": body},
            )
        ).all()
        lexemes[node_id] = Counter({str(lexeme): int(tf) for lexeme, tf in rows})
    query = [
        row[0]
        for row in (
            await conn.execute(
                text(f"SELECT DISTINCT lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', :q))"), {"q": question}
            )
        ).all()
    ]
    indexed = {n: c for n, c in lexemes.items() if c}
    n_chunks = len(indexed)
    avgdl = sum(sum(c.values()) for c in indexed.values()) / n_chunks
    k1, b = lexical.BM25_K1, lexical.BM25_B
    scores: dict[str, float] = {}
    for node_id, tf in indexed.items():
        length = sum(tf.values())
        score = 0.0
        for term in query:
            df = sum(1 for c in indexed.values() if term in c)
            if tf[term]:
                idf = math.log(1 + (n_chunks - df + 0.5) / (df + 0.5))
                score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * length / avgdl))
        if score:
            scores[node_id] = score
    return scores


async def test_bm25_matches_the_textbook_formula_and_follows_versions_deletes_and_restores(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    embedder, _ = hash_embedder()
    async with open_ingestor(make_settings(), database_url, embedder=embedder) as ingestor:
        zoo = await ingestor.ingest_bytes(
            make_pdf(["The zebra grazes. The zebra runs.", "Annual revenue of the company grew."]), file_name="zoo.pdf"
        )
        report = await ingestor.ingest_bytes(
            make_pdf(["Annual revenue grew and costs fell.", "The company hired staff.", "Revenue, revenue, revenue."]),
            file_name="report.pdf",
        )
        engine = ingestor.engine
        index = ingestor.table.index_name
        search = await VectorSearch.open(database_url, index)
        try:
            question = "zebra revenue"
            hits = await search.full_text(question, top_k=10)
            async with engine.connect() as conn:
                texts = dict(
                    (
                        await conn.execute(text(f"SELECT node_id, text FROM {table_for(index)}"))
                    ).all()  # every chunk is visible
                )
                expected = await _reference_bm25(conn, question, texts)
            assert {h.node_id: h.score for h in hits} == pytest.approx(expected, rel=1e-6)
            assert hits[0].document_id == zoo.document_id, "the rare word outweighs the common one (IDF)"
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

            # a new version of zoo.pdf without the zebra: its old words stop counting at the swap
            await ingestor.ingest_bytes(
                make_pdf(["Lions sleep.", "Annual revenue of the company grew."]), file_name="zoo.pdf"
            )
            assert await search.full_text("zebra", top_k=10) == []
            assert [h.version for h in await search.full_text("lions", top_k=10)] == [2]

            before = {h.node_id: h.score for h in await search.full_text("revenue", top_k=10)}
            async with engine.begin() as conn:
                assert await catalog.set_deleted(conn, report.document_id, True)
            after = await search.full_text("revenue", top_k=10)
            assert {h.document_id for h in after} == {zoo.document_id}
            zoo_chunk = after[0].node_id
            assert after[0].score != pytest.approx(before[zoo_chunk]), "N and df changed with the delete: IDF moved"

            async with engine.begin() as conn:
                assert await catalog.set_deleted(conn, report.document_id, False)
            restored = {h.node_id: h.score for h in await search.full_text("revenue", top_k=10)}
            assert restored == pytest.approx(before)

            # the incremental index is exactly what a rebuild from scratch makes
            snapshot = "SELECT lexeme, chunk, document_id, tf, chunk_len FROM lexical_postings ORDER BY 1, 2"
            stats = "SELECT document_id, chunks, terms FROM lexical_documents ORDER BY 1"
            async with engine.begin() as conn:
                incremental = ((await conn.execute(text(snapshot))).all(), (await conn.execute(text(stats))).all())
                assert await lexical.rebuild(conn) == 2
                rebuilt = ((await conn.execute(text(snapshot))).all(), (await conn.execute(text(stats))).all())
            assert incremental == rebuilt
        finally:
            await search.close()
