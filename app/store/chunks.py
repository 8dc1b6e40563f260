"""The chunk (vector) table: what exists per page, copies, garbage collection, visible search.

Visibility is a query, not a flag: a chunk is served only while a page of its document's
*current* version has the chunk's page number and page checksum, and the document is not
deleted. Publishing a version (one UPDATE) therefore switches every reader at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.vector_schema import table_for


@dataclass(frozen=True)
class StoredChunk:
    node_id: str
    text: str
    embedding: list[float]
    metadata: dict[str, Any]


# A chunk ``c`` is visible when this holds (open: callers may add ``AND d.…`` before closing it).
VISIBLE_SUBQUERY = (
    "SELECT true FROM documents d JOIN document_pages p ON p.document_id = d.id AND p.version = d.current_version"
    " WHERE d.id = c.document_id AND d.deleted_at IS NULL"
    " AND p.page_number = c.page_number AND p.text_sha256 = c.page_sha256"
)


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text form; cast with ``CAST(:v AS vector)``."""
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


def parse_vector(value: Any) -> list[float]:
    if isinstance(value, str):
        return [float(x) for x in value.strip("[]").split(",") if x]
    return [float(x) for x in value]


async def page_chunk_counts(
    conn: AsyncConnection, index_name: str, document_id: uuid.UUID
) -> dict[tuple[int, str], int]:
    """How many chunks are stored for each (page number, page checksum) of a document."""
    rows = await conn.execute(
        text(
            f"SELECT page_number, page_sha256, count(*) FROM {table_for(index_name)}"
            " WHERE document_id = :doc GROUP BY page_number, page_sha256"
        ),
        {"doc": document_id},
    )
    return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}


async def chunks_of_page(
    conn: AsyncConnection, index_name: str, document_id: uuid.UUID, page_number: int, page_sha256: str
) -> list[StoredChunk]:
    """The stored chunks of one page content, in order (to copy their embeddings elsewhere)."""
    rows = await conn.execute(
        text(
            f"SELECT node_id, text, embedding::text, metadata_ FROM {table_for(index_name)}"
            " WHERE document_id = :doc AND page_number = :page AND page_sha256 = :sha"
            " ORDER BY (metadata_->>'chunk')::int"
        ),
        {"doc": document_id, "page": page_number, "sha": page_sha256},
    )
    return [StoredChunk(r[0], r[1], parse_vector(r[2]), dict(r[3])) for r in rows]


async def delete_unreferenced(conn: AsyncConnection, index_name: str, document_id: uuid.UUID) -> int:
    """Remove the document's chunks that no page of its current version references; return how many."""
    result = await conn.execute(
        text(
            f"DELETE FROM {table_for(index_name)} c WHERE c.document_id = :doc AND NOT EXISTS ("
            " SELECT 1 FROM documents d JOIN document_pages p ON p.document_id = d.id AND p.version = d.current_version"
            " WHERE d.id = c.document_id AND p.page_number = c.page_number AND p.text_sha256 = c.page_sha256)"
        ),
        {"doc": document_id},
    )
    return int(result.rowcount or 0)


async def count_chunks(conn: AsyncConnection, index_name: str) -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM {table_for(index_name)}"))).scalar_one())


def node_metadata(
    *,
    document_id: uuid.UUID,
    version: int,
    page: int,
    page_sha256: str,
    chunk: int,
    file_name: str,
    tags: Sequence[str],
) -> dict[str, Any]:
    """Metadata written with every chunk (document id, version, page, file name, tags, …)."""
    return {
        "document_id": str(document_id),
        "version": version,
        "page": page,
        "page_sha256": page_sha256,
        "chunk": chunk,
        "file_name": file_name,
        "tags": list(tags),
    }
