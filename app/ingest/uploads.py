"""Accepting an uploaded PDF: validate it, keep the original, reserve its version and queue its job.

Everything an upload writes (document, file bytes, pending version, job) commits in one
transaction, after the file has been read and parsed: a refused or failed upload leaves nothing
behind. Byte-identical uploads are serialised on the file's checksum, so concurrent uploads of
the same file make one document.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.errors import Conflict, InvalidInput, NotFound
from app.ingest.pipeline import lock_key
from app.ingest.sandbox import ParseLimits, parse_pdf
from app.store import catalog, jobs
from app.store import documents as doc_store

MAX_FILE_NAME = 255
MAX_TITLE = 500
MAX_AUTHOR = 200
MAX_TAGS = 50
TAG = re.compile(r"^[\w][\w .:/+-]{0,63}$")


@dataclass(frozen=True)
class Accepted:
    document_id: uuid.UUID
    version: int
    job_id: uuid.UUID | None
    status: str  # "queued": a job will ingest it; "duplicate": this file is already that document; "unchanged"


def clean_file_name(raw: str | None) -> str:
    """The last path component, without control characters; never a path a file could be written to."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if len(name) > MAX_FILE_NAME:
        raise InvalidInput(
            f"The file name is {len(name)} characters long; the limit is {MAX_FILE_NAME}. Rename the file.",
            code="invalid_file_name",
        )
    return name or "document.pdf"


def clean_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = " ".join("".join(ch for ch in value if unicodedata.category(ch)[0] != "C").split())
    if len(value) > limit:
        raise InvalidInput(f"`{field}` is {len(value)} characters long; the limit is {limit}.", code="invalid_metadata")
    return value or None


def clean_tags(tags: Sequence[str] | None) -> list[str] | None:
    if tags is None:
        return None
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"{len(cleaned)} tags given; the limit is {MAX_TAGS}.", code="invalid_metadata")
    bad = [t for t in cleaned if not TAG.match(t)]
    if bad:
        raise InvalidInput(
            f"Invalid tag(s) {bad[:5]}: a tag is 1-64 letters, digits, spaces or _ . : / + -, starting with a letter or digit.",
            code="invalid_metadata",
        )
    return cleaned


async def _xact_lock(conn: AsyncConnection, name: str) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


class Uploads:
    """Validates and queues uploads; ``on_queued`` wakes this process's job worker."""

    def __init__(self, engine: AsyncEngine, *, limits: ParseLimits, on_queued: Any = None) -> None:
        self.engine = engine
        self.limits = limits
        self.on_queued = on_queued

    async def accept(
        self,
        data: bytes,
        *,
        file_name: str,
        title: str | None = None,
        author: str | None = None,
        tags: Sequence[str] | None = None,
        document_id: uuid.UUID | None = None,
        created_by: uuid.UUID | None = None,
    ) -> Accepted:
        """A new document (``document_id`` None) or a new version of one; raises before writing anything."""
        parsed = await asyncio.to_thread(parse_pdf, data, limits=self.limits, name=file_name)
        async with self.engine.begin() as conn:
            if document_id is None:
                await _xact_lock(conn, f"upload:{parsed.sha256}")
                duplicate = await catalog.find_upload_duplicate(conn, parsed.sha256)
                if duplicate is not None:
                    job = await jobs.latest_job(conn, *duplicate)
                    return Accepted(duplicate[0], duplicate[1], job.id if job else None, "duplicate")
                document_id = await doc_store.create_document(
                    conn, file_name=file_name, title=title, tags=tags or (), author=author
                )
            else:
                await _xact_lock(conn, f"upload-version:{document_id}")
                info = await catalog.get_info(conn, document_id)
                if info is None:
                    raise NotFound(f"No document {document_id}. List them with GET /api/v1/docs.")
                if info.deleted_at is not None:
                    raise Conflict(
                        f"Document {document_id} is deleted. Restore it (POST /api/v1/docs/{document_id}/restore) "
                        "before uploading a new version.",
                        code="document_deleted",
                    )
                latest = await jobs.latest_job(conn, document_id, info.latest_version)
                if info.content_hash == parsed.sha256 and info.status != "failed":
                    return Accepted(
                        document_id, info.version or info.latest_version, latest.id if latest else None, "unchanged"
                    )
                changes = {k: v for k, v in {"title": title, "author": author, "tags": tags}.items() if v is not None}
                if changes:
                    await catalog.update_metadata(conn, document_id, changes)
            await doc_store.store_file(conn, parsed.sha256, data)
            version = await doc_store.open_version(
                conn,
                document_id,
                sha256=parsed.sha256,
                file_name=file_name,
                size=parsed.size,
                page_count=parsed.page_count,
                embed_model=None,
                status="pending",
            )
            job_id = await jobs.create_job(
                conn, document_id, version, pages_total=len(parsed.pages), created_by=created_by
            )
        if self.on_queued is not None:
            self.on_queued()
        return Accepted(document_id, version, job_id, "queued")
