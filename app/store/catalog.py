"""The document catalog the API shows: metadata, versions, original files, soft delete and restore.

Every change here touches ``documents.updated_at``, which is what the answer cache's corpus
generation watches: a patched, deleted or restored document never gets a stale cached answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store import lexical
from app.store.tables import document_versions, documents, files


@dataclass(frozen=True)
class DocumentInfo:
    id: uuid.UUID
    title: str | None
    author: str | None
    file_name: str
    tags: list[str]
    version: int | None  # the version answers come from (None until the first one is ready)
    latest_version: int
    status: str  # of the latest version: pending | ingesting | ready | failed; or deleted
    uploaded_at: datetime | None
    file_size: int | None
    page_count: int | None
    content_hash: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "author": self.author,
            "file_name": self.file_name,
            "tags": self.tags,
            "version": self.version,
            "latest_version": self.latest_version,
            "status": self.status,
            "uploaded_at": self.uploaded_at.isoformat() if self.uploaded_at else None,
            "file_size": self.file_size,
            "page_count": self.page_count,
            "content_hash": self.content_hash,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted": self.deleted_at is not None,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
        }


def _info_select() -> Select[Any]:
    shown = document_versions.alias("shown")  # the current version, or the latest while none is ready
    latest = document_versions.alias("latest")
    return select(
        documents,
        shown.c.created_at.label("uploaded_at"),
        shown.c.file_size,
        shown.c.page_count,
        shown.c.file_sha256,
        latest.c.status.label("latest_status"),
    ).select_from(
        documents.outerjoin(
            shown,
            and_(
                shown.c.document_id == documents.c.id,
                shown.c.version == func.coalesce(documents.c.current_version, documents.c.latest_version),
            ),
        ).outerjoin(
            latest, and_(latest.c.document_id == documents.c.id, latest.c.version == documents.c.latest_version)
        )
    )


def _to_info(row: Any) -> DocumentInfo:
    m = row._mapping
    return DocumentInfo(
        id=m["id"],
        title=m["title"],
        author=m["author"],
        file_name=m["file_name"],
        tags=list(m["tags"] or []),
        version=m["current_version"],
        latest_version=m["latest_version"],
        status="deleted" if m["deleted_at"] is not None else (m["latest_status"] or "pending"),
        uploaded_at=m["uploaded_at"],
        file_size=m["file_size"],
        page_count=m["page_count"],
        content_hash=m["file_sha256"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        deleted_at=m["deleted_at"],
    )


async def get_info(conn: AsyncConnection, document_id: uuid.UUID) -> DocumentInfo | None:
    row = (await conn.execute(_info_select().where(documents.c.id == document_id))).first()
    return _to_info(row) if row else None


async def list_documents(
    conn: AsyncConnection,
    *,
    tag: str | None = None,
    author: str | None = None,
    include_deleted: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DocumentInfo], int]:
    """One page of documents, newest first, and how many match in all."""
    conditions = []
    if tag:
        conditions.append(documents.c.tags.any(tag))
    if author:
        conditions.append(documents.c.author == author)
    if not include_deleted:
        conditions.append(documents.c.deleted_at.is_(None))
    total = (await conn.execute(select(func.count()).select_from(documents).where(*conditions))).scalar_one()
    rows = await conn.execute(
        _info_select()
        .where(*conditions)
        .order_by(documents.c.created_at.desc(), documents.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_to_info(r) for r in rows], int(total)


async def versions_of(conn: AsyncConnection, document_id: uuid.UUID, current: int | None) -> list[dict[str, Any]]:
    v = document_versions
    rows = await conn.execute(select(v).where(v.c.document_id == document_id).order_by(v.c.version))
    return [
        {
            "version": r.version,
            "file_name": r.file_name,
            "file_size": r.file_size,
            "page_count": r.page_count,
            "content_hash": r.file_sha256,
            "status": r.status,
            "error": r.error,
            "embed_model": r.embed_model,
            "uploaded_at": r.created_at.isoformat(),
            "completed_at": r.completed_at.isoformat() if r.completed_at else None,
            "current": r.version == current,
        }
        for r in rows
    ]


async def version_file(conn: AsyncConnection, document_id: uuid.UUID, version: int) -> tuple[str, bytes] | None:
    """The original bytes of one version, with the file name it was uploaded under."""
    row = (
        await conn.execute(
            select(document_versions.c.file_name, files.c.data)
            .join(files, files.c.sha256 == document_versions.c.file_sha256)
            .where(document_versions.c.document_id == document_id, document_versions.c.version == version)
        )
    ).first()
    return (row[0], bytes(row[1])) if row else None


async def update_metadata(conn: AsyncConnection, document_id: uuid.UUID, values: dict[str, Any]) -> bool:
    """Set title, author and/or tags (no re-embedding: retrieval reads tags from this row)."""
    result = await conn.execute(
        update(documents).where(documents.c.id == document_id).values(**values, updated_at=func.now())
    )
    return result.rowcount > 0


async def set_deleted(conn: AsyncConnection, document_id: uuid.UUID, deleted: bool) -> bool:
    """Soft delete (rows, chunks and files stay) or restore; retrieval follows at once."""
    result = await conn.execute(
        update(documents)
        .where(documents.c.id == document_id)
        .values(deleted_at=func.now() if deleted else None, updated_at=func.now())
    )
    if not result.rowcount:
        return False
    await lexical.refresh_document(conn, document_id)  # a deleted document's words stop counting at once
    return True


async def find_upload_duplicate(conn: AsyncConnection, sha256: str) -> tuple[uuid.UUID, int] | None:
    """A live document whose current or latest version is this very file (not a failed one)."""
    v = document_versions
    row = (
        await conn.execute(
            select(documents.c.id, v.c.version)
            .join(v, v.c.document_id == documents.c.id)
            .where(
                documents.c.deleted_at.is_(None),
                v.c.file_sha256 == sha256,
                v.c.status != "failed",
                or_(v.c.version == documents.c.current_version, v.c.version == documents.c.latest_version),
            )
            .order_by(documents.c.created_at)
            .limit(1)
        )
    ).first()
    return (row[0], int(row[1])) if row else None
