"""The retrieval read path: nearest visible chunks over HNSW, on a lean asyncpg pool.

Search is the hot path, so it skips what costs a round trip or a parse each call: vectors go
in pgvector's binary form, HNSW settings are set once per connection, and connections return
to the pool without a reset (this path changes no session state; overrides are SET LOCAL).
Measured against the bare query in scripts/benchmark_vector_search.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from app.core.errors import DatabaseUnavailable
from app.store.chunks import VISIBLE_SUBQUERY
from app.store.db import libpq_url
from app.store.lexical import bm25_filters, bm25_sql
from app.store.vector_schema import table_for


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with what a citation needs: document, current version, page."""

    node_id: str
    text: str
    document_id: uuid.UUID
    version: int
    page: int
    file_name: str
    score: float


def _limit(top_k: int) -> int:
    """A validated int, inlined as LIMIT: with ``LIMIT $n`` the cached generic plan would not know it."""
    limit = int(top_k)
    if not 1 <= limit <= 1000:
        raise ValueError(f"top_k must be between 1 and 1000, got {top_k}")
    return limit


def _filters(
    params: list[Any], tags: Sequence[str] | None, document_ids: Sequence[uuid.UUID] | None
) -> tuple[str, str]:
    """SQL for the optional tag filter (inside the visibility subquery) and document filter; appends their params."""
    tag_filter = doc_filter = ""
    if tags:
        params.append(list(tags))
        tag_filter = f"AND d.tags && ${len(params)}::text[]"
    if document_ids:
        params.append(list(document_ids))
        doc_filter = f"AND c.document_id = ANY(${len(params)}::uuid[])"
    return tag_filter, doc_filter


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


class VectorSearch:
    """Dense search over the visible chunks of one vector table."""

    def __init__(self, pool: asyncpg.Pool, index_name: str) -> None:
        self.pool = pool
        self.index_name = index_name
        self._table = table_for(index_name)

    @classmethod
    async def open(
        cls, database_url: str, index_name: str, *, size: int = 4, ef_search: int = 100, timeout: float = 5.0
    ) -> VectorSearch:
        try:
            pool = await asyncpg.create_pool(
                libpq_url(database_url),
                min_size=1,
                max_size=size,
                timeout=timeout,
                init=register_vector,
                reset=_no_reset,
                server_settings={
                    "application_name": "pagewise-search",
                    "hnsw.ef_search": str(ef_search),
                    "hnsw.iterative_scan": "relaxed_order",
                },
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(f"Cannot open the search connection pool: {exc}") from exc
        return cls(pool, index_name)

    async def close(self) -> None:
        await self.pool.close()

    async def dense(
        self,
        embedding: Sequence[float],
        *,
        top_k: int = 10,
        document_ids: Sequence[uuid.UUID] | None = None,
        tags: Sequence[str] | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]:
        """Nearest visible chunks by cosine distance.

        Visibility (and the tag filter) is a scalar subquery on each candidate rather than a join:
        a join makes the planner sort every row exactly, a per-row filter keeps the HNSW scan, and
        pgvector's iterative scan keeps walking until ``top_k`` candidates pass it.
        """
        params: list[Any] = [np.asarray(embedding, dtype=np.float32)]
        limit = _limit(top_k)
        tag_filter, doc_filter = _filters(params, tags, document_ids)
        sql = (
            "SELECT c.node_id, c.text, c.document_id, d.current_version, c.page_number, d.file_name, c.distance FROM ("
            " SELECT c.node_id, c.text, c.document_id, c.page_number, c.embedding <=> $1 AS distance"
            f" FROM {self._table} c WHERE ({VISIBLE_SUBQUERY} {tag_filter}) {doc_filter}"
            f" ORDER BY c.embedding <=> $1 LIMIT {limit}"
            ") c JOIN documents d ON d.id = c.document_id ORDER BY c.distance"
        )
        try:
            async with self.pool.acquire() as conn:
                if ef_search is None:
                    rows = await conn.fetch(sql, *params)
                else:
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
                        rows = await conn.fetch(sql, *params)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"Vector search failed: {exc}") from exc
        return [Hit(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], 1.0 - float(r[6])) for r in rows]

    async def full_text(
        self,
        question: str,
        *,
        top_k: int = 10,
        document_ids: Sequence[uuid.UUID] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Visible chunks ranked by BM25 over the question's words (app/store/lexical.py); ties by chunk id,
        so the same query always gives the same list."""
        params: list[Any] = [question]
        limit = _limit(top_k)
        doc_filter, tag_filter = bm25_filters(params, tags, document_ids)
        sql = bm25_sql(self._table, limit=limit, doc_filter=doc_filter, tag_filter=tag_filter)
        try:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(sql, *params)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"Full-text search failed: {exc}") from exc
        return [Hit(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], float(r[6])) for r in rows]
