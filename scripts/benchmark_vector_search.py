"""HNSW vs IVFFlat vs exact scan on 10k and 100k 384-d chunks, and our retrieval path vs raw SQL.

Vectors are synthetic but clustered like sentence embeddings (a Gaussian mixture, unit length);
the table is our chunk schema with documents and pages, so `VectorSearch.dense` (visibility filter
included) runs on the same HNSW index as the raw query. Ground truth is numpy brute force.

    python scripts/benchmark_vector_search.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any

import numpy as np
from benchlib import emit, isolated_database, latency_stats, parser

from app.store.db import libpq_url
from app.store.search import VectorSearch
from app.store.vector_schema import create_vector_table_sql, table_for

DIM = 384
TARGET_RECALL = 0.98
CHUNKS_PER_DOC = 50
CHUNKS_PER_PAGE = 5


def make_data(n: int, queries: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # topics (clusters) on a low-dimensional manifold plus noise: neighbours are close but not trivially so
    basis = rng.normal(size=(48, DIM)).astype(np.float32)
    centroids = rng.normal(size=(max(20, n // 200), 48)).astype(np.float32)
    labels = rng.integers(0, len(centroids), size=n + queries)
    latent = centroids[labels] + rng.normal(scale=0.8, size=(n + queries, 48)).astype(np.float32)
    points = latent @ basis + rng.normal(scale=2.0, size=(n + queries, DIM)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points[:n], points[n:]


def exact_top10(data: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    scores = queries @ data.T
    return [set(np.argpartition(-row, 10)[:10].tolist()) for row in scores]


async def load(conn: Any, index: str, data: np.ndarray) -> list[str]:
    """Documents, versions and pages for the chunks, then the chunks by COPY; returns node ids by row."""
    n = len(data)
    sha = hashlib.sha256(b"bench").hexdigest()
    await conn.execute("INSERT INTO files (sha256, size, data) VALUES ($1, 1, 'x') ON CONFLICT DO NOTHING", sha)
    docs = [uuid.uuid4() for _ in range((n + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC)]
    await conn.copy_records_to_table(
        "documents",
        records=[(d, f"doc{i}.pdf", 1, 1) for i, d in enumerate(docs)],
        columns=["id", "file_name", "current_version", "latest_version"],
    )
    await conn.copy_records_to_table(
        "document_versions",
        records=[(d, 1, sha, "f.pdf", 1, "ready") for d in docs],
        columns=["document_id", "version", "file_sha256", "file_name", "file_size", "status"],
    )
    pages_per_doc = CHUNKS_PER_DOC // CHUNKS_PER_PAGE
    await conn.copy_records_to_table(
        "document_pages",
        records=[(d, 1, p, f"{p:064d}", 100, CHUNKS_PER_PAGE) for d in docs for p in range(1, pages_per_doc + 1)],
        columns=["document_id", "version", "page_number", "text_sha256", "char_count", "chunk_count"],
    )
    node_ids = [str(uuid.uuid4()) for _ in range(n)]
    records = []
    for i in range(n):
        doc = docs[i // CHUNKS_PER_DOC]
        page = (i % CHUNKS_PER_DOC) // CHUNKS_PER_PAGE + 1
        meta = {
            "ref_doc_id": str(doc),
            "document_id": str(doc),
            "page": page,
            "page_sha256": f"{page:064d}",
            "chunk": i % 5,
        }
        records.append((f"synthetic chunk {i}", json.dumps(meta), node_ids[i], data[i]))
    await conn.copy_records_to_table(
        table_for(index), records=records, columns=["text", "metadata_", "node_id", "embedding"]
    )
    await conn.execute(f"ANALYZE {table_for(index)}; ANALYZE documents; ANALYZE document_pages")
    return node_ids


async def timed_queries(
    conn: Any, sql: str, queries: np.ndarray, setup: list[str]
) -> tuple[list[float], list[list[str]]]:
    """Time the query alone (the settings are applied, untimed, before it)."""
    seconds, results = [], []
    for statement in setup:
        await conn.execute(statement.replace("SET LOCAL", "SET"))
    for q in queries:
        started = time.perf_counter()
        rows = await conn.fetch(sql, q)
        seconds.append(time.perf_counter() - started)
        results.append([r[0] for r in rows])
    for statement in setup:
        await conn.execute("RESET " + statement.split()[2 if "LOCAL" in statement else 1])
    return seconds, results


def recall(results: list[list[str]], truth: list[set[int]], row_of: dict[str, int]) -> float:
    hits = sum(len({row_of[n] for n in got} & want) for got, want in zip(results, truth, strict=True))
    return round(hits / (10 * len(truth)), 4)


async def bench_size(url: str, n: int, n_queries: int) -> dict[str, Any]:
    import asyncpg
    from pgvector.asyncpg import register_vector

    index = f"chunks_bench{n // 1000}k_{DIM}"
    table = table_for(index)
    data, queries = make_data(n, n_queries)
    truth = exact_top10(data, queries)
    conn = await asyncpg.connect(libpq_url(url))
    await register_vector(conn)
    statements = create_vector_table_sql(index, DIM)
    await conn.execute(statements[0])
    started = time.perf_counter()
    node_ids = await load(conn, index, data)
    load_s = time.perf_counter() - started
    row_of = {nid: i for i, nid in enumerate(node_ids)}
    await conn.execute("SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 1")
    raw_sql = f"SELECT node_id FROM {table} ORDER BY embedding <=> $1 LIMIT 10"
    out: dict[str, Any] = {"chunks": n, "queries": n_queries, "load_s": round(load_s, 1)}

    secs, res = await timed_queries(conn, raw_sql, queries, ["SET LOCAL enable_indexscan = off"])
    out["exact"] = {**latency_stats(secs), "recall@10": recall(res, truth, row_of)}

    lists = max(10, n // 1000)
    started = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX bench_ivf ON {table} USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})"
    )
    out["ivfflat_build_s"] = round(time.perf_counter() - started, 1)
    ivf: list[dict[str, Any]] = []
    for probes in (1, 2, 4, 8, 16, 32, 64):
        secs, res = await timed_queries(conn, raw_sql, queries, [f"SET LOCAL ivfflat.probes = {probes}"])
        ivf.append({"probes": probes, **latency_stats(secs), "recall@10": recall(res, truth, row_of)})
        if ivf[-1]["recall@10"] >= TARGET_RECALL:
            break
    await conn.execute("DROP INDEX bench_ivf")

    started = time.perf_counter()
    for statement in statements[1:]:
        await conn.execute(statement)
    out["hnsw_build_s"] = round(time.perf_counter() - started, 1)
    hnsw: list[dict[str, Any]] = []
    for ef in (40, 64, 100, 160, 250, 400):
        secs, res = await timed_queries(conn, raw_sql, queries, [f"SET LOCAL hnsw.ef_search = {ef}"])
        hnsw.append({"ef_search": ef, **latency_stats(secs), "recall@10": recall(res, truth, row_of)})
        if hnsw[-1]["recall@10"] >= TARGET_RECALL:
            break
    chosen = hnsw[-1]
    ivf_equal = next((r for r in ivf if r["recall@10"] >= chosen["recall@10"]), ivf[-1])
    out.update(hnsw=hnsw, ivfflat=ivf, hnsw_at_target=chosen, ivfflat_at_equal_recall=ivf_equal)
    out["hnsw_qps_vs_ivfflat"] = round(chosen["qps"] / ivf_equal["qps"], 2)

    # Our retrieval path as a request runs it (pool, visibility filter, rows to objects) vs the
    # bare query on one asyncpg connection, same index and ef_search.
    search = await VectorSearch.open(url, index, ef_search=chosen["ef_search"])
    ours: list[float] = []
    our_results: list[list[str]] = []
    for warm in queries[:5]:
        await search.dense(warm.tolist(), top_k=10)
    for q in queries:
        vec = q.tolist()
        started = time.perf_counter()
        hits = await search.dense(vec, top_k=10)
        ours.append(time.perf_counter() - started)
        our_results.append([h.node_id for h in hits])
    await search.close()
    await conn.execute(f"SET hnsw.ef_search = {chosen['ef_search']}")
    raw_secs, _ = await timed_queries(conn, raw_sql, queries, [])
    out["ours"] = {**latency_stats(ours), "recall@10": recall(our_results, truth, row_of)}
    out["raw_sql"] = latency_stats(raw_secs)
    out["ours_vs_raw_p50"] = round(out["ours"]["p50_ms"] / out["raw_sql"]["p50_ms"], 2)
    await conn.execute(f"DROP TABLE {table}; TRUNCATE documents CASCADE")
    await conn.close()
    return out


def render(results: list[dict[str, Any]]) -> str:
    lines = [f"{'chunks':>7} {'method':<26} {'p50 ms':>8} {'p99 ms':>8} {'QPS':>8} {'recall@10':>10}"]
    for r in results:
        rows = [("exact scan", r["exact"])]
        rows += [(f"ivfflat probes={x['probes']}", x) for x in r["ivfflat"]]
        rows += [(f"hnsw ef_search={x['ef_search']}", x) for x in r["hnsw"]]
        rows += [
            ("ours (VectorSearch.dense)", r["ours"]),
            ("raw SQL (same index)", {**r["raw_sql"], "recall@10": None}),
        ]
        for name, x in rows:
            rec = "" if x.get("recall@10") is None else f"{x['recall@10']:.3f}"
            lines.append(
                f"{r['chunks']:>7} {name:<26} {x['p50_ms']:>8.2f} {x['p99_ms']:>8.2f} {x['qps']:>8.0f} {rec:>10}"
            )
        lines.append(
            f"{'':>7} HNSW QPS / IVFFlat QPS at equal recall: {r['hnsw_qps_vs_ivfflat']}x; ours / raw p50: {r['ours_vs_raw_p50']}x; "
            f"builds: ivfflat {r['ivfflat_build_s']} s, hnsw {r['hnsw_build_s']} s"
        )
    return "\n".join(lines)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    sizes = [(10_000, 100)] if args.quick else [(10_000, 200), (100_000, 200)]
    with isolated_database(args.database_url) as url:
        results = [asyncio.run(bench_size(url, n, q)) for n, q in sizes]
    big = results[-1]
    figures = {
        "sizes": results,
        "p99_ms_at_largest": big["hnsw_at_target"]["p99_ms"],
        "recall_at_largest": big["hnsw_at_target"]["recall@10"],
        "hnsw_qps_vs_ivfflat": big["hnsw_qps_vs_ivfflat"],
        "ours_vs_raw_p50": big["ours_vs_raw_p50"],
    }
    emit(args, figures, render(results))


if __name__ == "__main__":
    main()
