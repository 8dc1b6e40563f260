"""Retrieval at library scale: BM25, dense HNSW and the fused path on ~36k real chunks.

The golden PDFs are parsed and chunked as ingestion does (256-token chunks), and the chunks are
copied under new documents until the library holds ``--chunks`` of them (36,000 by default;
6,000 with --quick), so BM25 sees real text and real term statistics at that size. Vectors are
random unit vectors (this measures search cost, not quality; quality is `python -m app eval`),
and the question embedding is left out (scripts/benchmark_embed.py measures it). The golden
questions are the queries.

    python scripts/benchmark_retrieval.py [--quick] [--json] [--chunks N]
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import numpy as np
from benchlib import DATASET, emit, isolated_database, latency_stats, parser
from llama_index.core.embeddings import MockEmbedding
from sqlalchemy import text

from app.embed.base import Embedder
from app.ingest.chunking import chunk_page
from app.ingest.sandbox import parse_pdf
from app.rag.retrieval import HybridRetriever
from app.store import db, lexical
from app.store.search import VectorSearch
from app.store.vector_schema import table_for
from app.store.vectors import ensure_table_for
from evals.dataset import load_dataset

DIM = 384


def golden_chunks() -> dict[str, list[tuple[int, str, str]]]:
    """Per golden PDF: (page number, page checksum, chunk text) of each of its chunks."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    for path in sorted((DATASET / "documents").glob("*.pdf")):
        chunks = out.setdefault(path.name, [])
        for page in parse_pdf(path.read_bytes(), name=path.name).pages:
            pieces = chunk_page(uuid.uuid4(), page.number, page.sha256, page.text, chunk_size=256, chunk_overlap=32)
            chunks += [(page.number, page.sha256, c.text) for c in pieces]
    return out


async def load(url: str, index: str, library: dict[str, list[tuple[int, str, str]]], target: int) -> int:
    """Copies of the golden PDFs' chunks, each copy of each PDF a document of its own, until ``target``."""
    import asyncpg
    from pgvector.asyncpg import register_vector

    conn = await asyncpg.connect(db.libpq_url(url))
    await register_vector(conn)
    rng = np.random.default_rng(7)
    await conn.execute("INSERT INTO files (sha256, size, data) VALUES ($1, 1, 'x')", "0" * 64)
    per_copy = sum(len(chunks) for chunks in library.values())
    docs, versions, pages, rows = [], [], [], []
    for copy in range(-(-target // per_copy)):
        for name, chunks in library.items():
            doc = uuid.uuid4()
            docs.append((doc, f"{copy}-{name}", 1, 1))
            versions.append((doc, 1, "0" * 64, f"{copy}-{name}", 1, "ready"))
            page_rows = {number: (doc, 1, number, sha, 1, 1) for number, sha, _ in chunks}
            pages += page_rows.values()
            for i, (number, sha, body) in enumerate(chunks):
                meta = {"ref_doc_id": str(doc), "document_id": str(doc), "page": number, "page_sha256": sha, "chunk": i}
                vector = rng.normal(size=DIM).astype(np.float32)
                rows.append((body, json.dumps(meta), str(uuid.uuid4()), vector / np.linalg.norm(vector)))
    await conn.copy_records_to_table(
        "documents", records=docs, columns=["id", "file_name", "current_version", "latest_version"]
    )
    await conn.copy_records_to_table(
        "document_versions",
        records=versions,
        columns=["document_id", "version", "file_sha256", "file_name", "file_size", "status"],
    )
    await conn.copy_records_to_table(
        "document_pages",
        records=pages,
        columns=["document_id", "version", "page_number", "text_sha256", "char_count", "chunk_count"],
    )
    await conn.copy_records_to_table(
        table_for(index), records=rows, columns=["text", "metadata_", "node_id", "embedding"]
    )
    await conn.close()
    return len(rows)


async def run(url: str, target: int) -> dict[str, Any]:
    engine = db.create_engine(url, pool_size=2)
    async with engine.begin() as conn:
        table = await ensure_table_for(conn, "all-MiniLM-L6-v2", DIM)
    library = golden_chunks()
    started = time.perf_counter()
    n = await load(url, table.index_name, library, target)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    async with engine.begin() as conn:
        await lexical.rebuild(conn)
    index_s = time.perf_counter() - started
    # The steady state of a library built over time: statistics fresh and the visibility map set
    # (right after a bulk load, index-only scans still visit the heap, and BM25 took 10x longer).
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for name in (
            table_for(table.index_name),
            "lexical_postings",
            "lexical_documents",
            "documents",
            "document_pages",
        ):
            await autocommit.execute(text(f"VACUUM (ANALYZE) {name}"))
    await engine.dispose()

    questions = [q.question for q in load_dataset(DATASET).questions]
    search = await VectorSearch.open(url, table.index_name, size=2)
    embedder = Embedder("bench", DIM, lambda: MockEmbedding(embed_dim=DIM))
    retriever = HybridRetriever(search, embedder)
    vector = list(np.full(DIM, 1 / np.sqrt(DIM)))
    timings: dict[str, list[float]] = {"bm25": [], "dense": [], "fused": []}
    try:
        for q in questions[:5]:  # warm the caches and the plans
            await retriever.retrieve(q, top_k=8)
        for q in questions:
            for name, call in (
                ("bm25", lambda q=q: search.full_text(q, top_k=40)),
                ("dense", lambda: search.dense(vector, top_k=40)),
                ("fused", lambda q=q: retriever.retrieve(q, top_k=8)),
            ):
                t0 = time.perf_counter()
                await call()
                timings[name].append(time.perf_counter() - t0)
    finally:
        await search.close()
    return {
        "chunks": n,
        "queries": len(questions),
        "load_s": round(load_s, 1),
        "bm25_index_build_s": round(index_s, 1),
        **{name: latency_stats(secs) for name, secs in timings.items()},
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, help="library size in chunks (default 36000, --quick 6000)")
    args = p.parse_args()
    target = args.chunks or (6000 if args.quick else 36000)
    with isolated_database(args.database_url) as url:
        figures = asyncio.run(run(url, target))
    lines = [f"{figures['chunks']} chunks, {figures['queries']} golden questions (question embedding excluded)"]
    lines.append(f"load {figures['load_s']} s, BM25 index build {figures['bm25_index_build_s']} s")
    lines += [
        f"{name:6s} p50 {figures[name]['p50_ms']:8.2f} ms   p99 {figures[name]['p99_ms']:8.2f} ms"
        for name in ("bm25", "dense", "fused")
    ]
    emit(args, figures, "\n".join(lines))


if __name__ == "__main__":
    main()
