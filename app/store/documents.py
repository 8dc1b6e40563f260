"""Documents, versions and pages: the bookkeeping that makes ingestion incremental and atomic."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store import lexical
from app.store.tables import document_pages, document_versions, documents, files


@dataclass(frozen=True)
class DocumentRow:
    id: uuid.UUID
    file_name: str
    title: str | None
    tags: list[str]
    current_version: int | None
    latest_version: int
    current_sha256: str | None


@dataclass(frozen=True)
class PageRow:
    number: int
    sha256: str
    chunk_count: int
    char_count: int = 0


def _doc_select() -> Select[Any]:
    current = document_versions.alias("cv")
    return select(
        documents.c.id,
        documents.c.file_name,
        documents.c.title,
        documents.c.tags,
        documents.c.current_version,
        documents.c.latest_version,
        current.c.file_sha256,
    ).select_from(
        documents.outerjoin(
            current,
            and_(current.c.document_id == documents.c.id, current.c.version == documents.c.current_version),
        )
    )


def _to_doc(row: object) -> DocumentRow:
    r = row._mapping  # type: ignore[attr-defined]
    return DocumentRow(
        id=r["id"],
        file_name=r["file_name"],
        title=r["title"],
        tags=list(r["tags"] or []),
        current_version=r["current_version"],
        latest_version=r["latest_version"],
        current_sha256=r["file_sha256"],
    )


async def get_document(conn: AsyncConnection, document_id: uuid.UUID) -> DocumentRow | None:
    row = (await conn.execute(_doc_select().where(documents.c.id == document_id))).first()
    return _to_doc(row) if row else None


async def find_by_file_name(conn: AsyncConnection, file_name: str) -> DocumentRow | None:
    """The live (not deleted) document with this file name, most recently updated first."""
    query = (
        _doc_select()
        .where(documents.c.file_name == file_name, documents.c.deleted_at.is_(None))
        .order_by(documents.c.updated_at.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return _to_doc(row) if row else None


async def find_by_content(conn: AsyncConnection, sha256: str) -> DocumentRow | None:
    """A live document whose current version is byte-identical to a file with this checksum."""
    cv = document_versions.alias("cv")
    query = _doc_select().where(
        documents.c.deleted_at.is_(None),
        documents.c.id.in_(
            select(cv.c.document_id).where(
                cv.c.file_sha256 == sha256,
                cv.c.version
                == select(documents.c.current_version).where(documents.c.id == cv.c.document_id).scalar_subquery(),
            )
        ),
    )
    row = (await conn.execute(query.limit(1))).first()
    return _to_doc(row) if row else None


async def create_document(
    conn: AsyncConnection,
    *,
    file_name: str,
    title: str | None = None,
    tags: Sequence[str] = (),
    author: str | None = None,
) -> uuid.UUID:
    new_id: uuid.UUID = (
        await conn.execute(
            insert(documents)
            .values(file_name=file_name, title=title, tags=list(tags), author=author)
            .returning(documents.c.id)
        )
    ).scalar_one()
    return new_id


async def store_file(conn: AsyncConnection, sha256: str, data: bytes) -> None:
    """Keep the original bytes once per distinct file (every version stays downloadable)."""
    await conn.execute(
        pg_insert(files)
        .values(sha256=sha256, size=len(data), data=data)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )


async def open_version(
    conn: AsyncConnection,
    document_id: uuid.UUID,
    *,
    sha256: str,
    file_name: str,
    size: int,
    page_count: int,
    embed_model: str | None,
    status: str = "ingesting",
) -> int:
    """The version this file becomes: an unfinished one for the same file is resumed, else a new one.

    An upload reserves its version as ``pending`` (its number is in the 202 response); the job's
    ingest then resumes that same version as ``ingesting``."""
    unfinished = (
        await conn.execute(
            select(document_versions.c.version)
            .where(
                document_versions.c.document_id == document_id,
                document_versions.c.file_sha256 == sha256,
                document_versions.c.status.in_(("pending", "ingesting", "failed")),
                # only one newer than what readers see: publishing it must move them forward
                document_versions.c.version
                > func.coalesce(
                    select(documents.c.current_version).where(documents.c.id == document_id).scalar_subquery(), 0
                ),
            )
            .order_by(document_versions.c.version.desc())
            .limit(1)
        )
    ).scalar()
    if unfinished is not None:
        await conn.execute(
            update(document_versions)
            .where(document_versions.c.document_id == document_id, document_versions.c.version == unfinished)
            .values(status=status, error=None, embed_model=embed_model)
        )
        return int(unfinished)
    version: int = (
        await conn.execute(
            update(documents)
            .where(documents.c.id == document_id)
            .values(latest_version=documents.c.latest_version + 1, updated_at=func.now())
            .returning(documents.c.latest_version)
        )
    ).scalar_one()
    await conn.execute(
        insert(document_versions).values(
            document_id=document_id,
            version=version,
            file_sha256=sha256,
            file_name=file_name,
            file_size=size,
            page_count=page_count,
            status=status,
            embed_model=embed_model,
        )
    )
    return version


async def record_pages(conn: AsyncConnection, document_id: uuid.UUID, version: int, pages: Iterable[PageRow]) -> None:
    rows = [
        {
            "document_id": document_id,
            "version": version,
            "page_number": p.number,
            "text_sha256": p.sha256,
            "char_count": p.char_count,
            "chunk_count": p.chunk_count,
        }
        for p in pages
    ]
    if rows:
        await conn.execute(pg_insert(document_pages).values(rows).on_conflict_do_nothing())


async def pages_of(conn: AsyncConnection, document_id: uuid.UUID, version: int | None) -> list[PageRow]:
    if version is None:
        return []
    rows = await conn.execute(
        select(document_pages.c.page_number, document_pages.c.text_sha256, document_pages.c.chunk_count)
        .where(document_pages.c.document_id == document_id, document_pages.c.version == version)
        .order_by(document_pages.c.page_number)
    )
    return [PageRow(number=r[0], sha256=r[1], chunk_count=r[2]) for r in rows]


async def publish_version(conn: AsyncConnection, document_id: uuid.UUID, version: int) -> None:
    """The atomic swap: readers see ``version`` from this commit on, and never a mix (BM25 statistics too)."""
    await conn.execute(
        update(document_versions)
        .where(document_versions.c.document_id == document_id, document_versions.c.version == version)
        .values(status="ready", completed_at=func.now(), error=None)
    )
    await conn.execute(
        update(documents)
        .where(
            documents.c.id == document_id,
            # a slower, older upload finishing late never replaces a newer current version
            or_(documents.c.current_version.is_(None), documents.c.current_version < version),
        )
        .values(current_version=version, updated_at=func.now())
    )
    await lexical.refresh_document(conn, document_id)


async def fail_version(conn: AsyncConnection, document_id: uuid.UUID, version: int, error: str) -> None:
    await conn.execute(
        update(document_versions)
        .where(document_versions.c.document_id == document_id, document_versions.c.version == version)
        .values(status="failed", error=error[:2000])
    )


async def corpus_generation(conn: AsyncConnection) -> str:
    """Changes whenever any document is added, changed, deleted or restored (each touches updated_at)."""
    row = (await conn.execute(select(func.max(documents.c.updated_at), func.count()).select_from(documents))).one()
    return f"{row[0].timestamp() if row[0] else 0}:{row[1]}"
