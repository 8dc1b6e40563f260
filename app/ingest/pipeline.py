"""Incremental, crash-safe ingestion of one PDF into the document's next version.

1. Parse every page and checksum it (file SHA-256 too). An unchanged file stops here: no writes.
2. Pages whose (number, checksum) already have chunks are reused as they are; pages whose text
   exists under another number get the stored embeddings copied; only the rest are chunked and
   embedded. Writes are page-atomic and invisible to readers (no current version points at them).
3. One UPDATE publishes the version; then the chunks no current page references are deleted.
A crash anywhere before step 3 leaves readers on the previous version; running again resumes
(already written pages are found in step 2 and not embedded again).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.vector_stores.postgres import PGVectorStore
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.errors import PagewiseError
from app.core.logging import get_logger
from app.embed.base import Embedder
from app.ingest.chunking import Chunk, chunk_node_id, chunk_page
from app.ingest.pdf import Page, ParsedPdf, sha256_hex
from app.ingest.sandbox import ParseLimits, parse_pdf
from app.store import chunks as chunk_store
from app.store import documents as doc_store
from app.store.vectors import VectorTable

log = get_logger(__name__)

ProgressFn = Callable[[int], None]


@dataclass
class FileResult:
    """What happened to one file."""

    file_name: str
    status: str  # "ingested" | "unchanged" | "failed"
    document_id: uuid.UUID | None = None
    version: int | None = None
    pages_total: int = 0
    pages_embedded: int = 0
    pages_reused: int = 0
    pages_deleted: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    embeddings: int = 0
    error_code: str | None = None
    error: str | None = None


@dataclass
class IngestReport:
    """Totals over a run of files (the CLI's `--json` summary)."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        def total(attr: str) -> int:
            return sum(int(getattr(r, attr)) for r in self.results)

        return {
            "files": len(self.results),
            "pages_total": total("pages_total"),
            "pages_embedded": total("pages_embedded"),
            "pages_reused": total("pages_reused"),
            "pages_deleted": total("pages_deleted"),
            "chunks_written": total("chunks_written"),
            "chunks_deleted": total("chunks_deleted"),
            "embeddings": total("embeddings"),
            "seconds": round(self.seconds, 3),
            "failed": [
                {"file": r.file_name, "code": r.error_code, "error": r.error}
                for r in self.results
                if r.status == "failed"
            ],
        }


def lock_key(name: str) -> int:
    """The advisory-lock key of a name (documents, uploads): 64 bits of its SHA-256."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@dataclass
class _Plan:
    reuse: dict[int, int] = field(default_factory=dict)  # page number -> stored chunk count
    copy: list[tuple[Page, tuple[int, str]]] = field(default_factory=list)  # page, stored (number, sha) to copy
    embed: list[Page] = field(default_factory=list)
    twins: dict[str, list[Page]] = field(default_factory=dict)  # same text as a page in `embed`


class Ingestor:
    """Ingests PDFs for one embedder into one vector table; safe to share within a process."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        store: PGVectorStore,
        table: VectorTable,
        embedder: Embedder,
        chunk_size: int,
        chunk_overlap: int,
        limits: ParseLimits | None = None,
        write_batch_chunks: int = 128,
    ) -> None:
        self.engine = engine
        self.store = store
        self.table = table
        self.embedder = embedder
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.limits = limits or ParseLimits()
        self.write_batch_chunks = write_batch_chunks

    @asynccontextmanager
    async def _lock(self, name: str) -> AsyncIterator[None]:
        """A session advisory lock: one ingest per document at a time, across processes."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(name)})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(name)})
                await conn.commit()

    async def ingest_bytes(
        self,
        data: bytes,
        *,
        file_name: str,
        tags: Sequence[str] = (),
        title: str | None = None,
        document_id: uuid.UUID | None = None,
        progress: ProgressFn | None = None,
    ) -> FileResult:
        """Ingest one file as the next version of ``document_id`` (or of the live document with this name)."""
        known = await self._already_current(data, file_name, document_id, progress)
        if known is not None:
            return known  # byte-identical to a current version: not even parsed again
        parsed = await asyncio.to_thread(parse_pdf, data, limits=self.limits, name=file_name)
        async with self._lock(f"name:{file_name}"):
            async with self.engine.begin() as conn:
                doc = await _find(conn, document_id, file_name)
                if doc is None:
                    same = await doc_store.find_by_content(conn, parsed.sha256)
                    if same is not None:
                        return self._unchanged(file_name, same, len(parsed.pages), progress)
                    new_id = await doc_store.create_document(conn, file_name=file_name, title=title, tags=tags)
                    doc = await doc_store.get_document(conn, new_id)
                    assert doc is not None
            if doc.current_sha256 == parsed.sha256:
                return self._unchanged(file_name, doc, len(parsed.pages), progress)
            async with self._lock(f"doc:{doc.id}"):
                return await self._ingest_version(doc, parsed, data, file_name, progress)

    async def _already_current(
        self, data: bytes, file_name: str, document_id: uuid.UUID | None, progress: ProgressFn | None
    ) -> FileResult | None:
        sha = sha256_hex(data)
        async with self.engine.connect() as conn:
            doc = await _find(conn, document_id, file_name) or await doc_store.find_by_content(conn, sha)
            if doc is None or doc.current_sha256 != sha:
                return None
            pages = len(await doc_store.pages_of(conn, doc.id, doc.current_version))
        return self._unchanged(file_name, doc, pages, progress)

    def _unchanged(
        self, file_name: str, doc: doc_store.DocumentRow, pages: int, progress: ProgressFn | None
    ) -> FileResult:
        if progress:
            progress(pages)
        return FileResult(
            file_name=file_name,
            status="unchanged",
            document_id=doc.id,
            version=doc.current_version,
            pages_total=pages,
            pages_reused=pages,
        )

    async def _ingest_version(
        self, doc: doc_store.DocumentRow, parsed: ParsedPdf, data: bytes, file_name: str, progress: ProgressFn | None
    ) -> FileResult:
        async with self.engine.begin() as conn:
            await doc_store.store_file(conn, parsed.sha256, data)
            version = await doc_store.open_version(
                conn,
                doc.id,
                sha256=parsed.sha256,
                file_name=file_name,
                size=parsed.size,
                page_count=parsed.page_count,
                embed_model=self.embedder.model_id,
            )
            previous_pages = await doc_store.pages_of(conn, doc.id, doc.current_version)
            stored = await chunk_store.page_chunk_counts(conn, self.table.index_name, doc.id)
        result = FileResult(
            file_name=file_name, status="ingested", document_id=doc.id, version=version, pages_total=len(parsed.pages)
        )
        try:
            plan = self._plan(parsed.pages, stored)
            counts = dict(plan.reuse)
            if progress and plan.reuse:
                progress(len(plan.reuse))
            counts.update(await self._copy(doc, version, plan.copy, result, progress))
            counts.update(await self._embed_and_write(doc, version, plan, result, progress))
            pages = [doc_store.PageRow(p.number, p.sha256, counts[p.number], len(p.text)) for p in parsed.pages]
            async with self.engine.begin() as conn:
                await doc_store.record_pages(conn, doc.id, version, pages)
                await doc_store.publish_version(conn, doc.id, version)
            async with self.engine.begin() as conn:
                result.chunks_deleted = await chunk_store.delete_unreferenced(conn, self.table.index_name, doc.id)
        except Exception as exc:  # recorded, then re-raised; a kill leaves "ingesting" and a re-run resumes
            reason = f"{exc.code}: {exc.message}" if isinstance(exc, PagewiseError) else f"{type(exc).__name__}: {exc}"
            async with self.engine.begin() as conn:
                await doc_store.fail_version(conn, doc.id, version, reason)
            raise
        new_numbers = {p.number for p in parsed.pages}
        result.pages_deleted = sum(1 for p in previous_pages if p.number not in new_numbers)
        result.pages_reused = len(plan.reuse) + len(plan.copy) + sum(len(t) for t in plan.twins.values())
        result.pages_embedded = len(plan.embed)
        log.info("ingested", file=file_name, document_id=str(doc.id), version=version, **_counts(result))
        return result

    def _plan(self, pages: Sequence[Page], stored: dict[tuple[int, str], int]) -> _Plan:
        plan = _Plan()
        by_sha: dict[str, tuple[int, str]] = {sha: (num, sha) for (num, sha) in stored}
        embedding: set[str] = set()
        for page in pages:
            if (page.number, page.sha256) in stored:
                plan.reuse[page.number] = stored[(page.number, page.sha256)]
            elif page.sha256 in by_sha:
                plan.copy.append((page, by_sha[page.sha256]))
            elif page.sha256 in embedding:
                plan.twins.setdefault(page.sha256, []).append(page)  # same text twice in this file: embed once
            else:
                embedding.add(page.sha256)
                plan.embed.append(page)
        return plan

    def _node(
        self, doc: doc_store.DocumentRow, version: int, page: Page, chunk: Chunk, text_: str, vector: list[float]
    ) -> TextNode:
        metadata = chunk_store.node_metadata(
            document_id=doc.id,
            version=version,
            page=page.number,
            page_sha256=page.sha256,
            chunk=chunk.index,
            file_name=doc.file_name,
            tags=doc.tags,
        )
        return TextNode(
            id_=chunk.node_id,
            text=text_,
            embedding=vector,
            metadata=metadata,
            excluded_embed_metadata_keys=list(metadata),
            excluded_llm_metadata_keys=["page_sha256", "chunk", "document_id"],
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=str(doc.id))},
        )

    async def _copy(
        self,
        doc: doc_store.DocumentRow,
        version: int,
        copies: list[tuple[Page, tuple[int, str]]],
        result: FileResult,
        progress: ProgressFn | None,
    ) -> dict[int, int]:
        """Pages whose text is already embedded under another page number: copy the vectors."""
        counts: dict[int, int] = {}
        for page, source in copies:
            async with self.engine.connect() as conn:
                stored = await chunk_store.chunks_of_page(conn, self.table.index_name, doc.id, source[0], source[1])
            nodes: list[BaseNode] = [
                self._node(
                    doc,
                    version,
                    page,
                    Chunk(chunk_node_id(doc.id, page.number, page.sha256, i), i, s.text),
                    s.text,
                    s.embedding,
                )
                for i, s in enumerate(stored)
            ]
            await self.store.async_add(nodes)
            counts[page.number] = len(nodes)
            result.chunks_written += len(nodes)
            if progress:
                progress(1)
        return counts

    async def _embed_and_write(
        self, doc: doc_store.DocumentRow, version: int, plan: _Plan, result: FileResult, progress: ProgressFn | None
    ) -> dict[int, int]:
        """Chunk and embed new pages; embedding of one batch overlaps the write of the previous one."""
        chunked: list[tuple[Page, list[Chunk]]] = await asyncio.to_thread(
            lambda: [
                (
                    p,
                    chunk_page(
                        doc.id, p.number, p.sha256, p.text, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap
                    ),
                )
                for p in plan.embed
            ]
        )
        duplicates = plan.twins
        counts: dict[int, int] = {}
        pending_write: asyncio.Task[list[str]] | None = None
        for batch in _batches(chunked, self.write_batch_chunks):
            texts = [c.text for _, cs in batch for c in cs]
            vectors = await asyncio.to_thread(self.embedder.model.get_text_embedding_batch, texts)
            result.embeddings += len(texts)
            nodes: list[BaseNode] = []
            cursor = 0
            for page, chunks in batch:
                page_vectors = vectors[cursor : cursor + len(chunks)]
                cursor += len(chunks)
                for twin in [page, *duplicates.get(page.sha256, [])]:
                    for chunk, vector in zip(chunks, page_vectors, strict=True):
                        twin_chunk = Chunk(
                            chunk_node_id(doc.id, twin.number, twin.sha256, chunk.index), chunk.index, chunk.text
                        )
                        nodes.append(self._node(doc, version, twin, twin_chunk, chunk.text, vector))
                    counts[twin.number] = len(chunks)
            if pending_write is not None:
                await pending_write
            pending_write = asyncio.create_task(self.store.async_add(nodes))
            result.chunks_written += len(nodes)
            if progress:
                progress(sum(1 + len(duplicates.get(p.sha256, [])) for p, _ in batch))
        if pending_write is not None:
            await pending_write
        return counts


async def _find(conn: AsyncConnection, document_id: uuid.UUID | None, file_name: str) -> doc_store.DocumentRow | None:
    """The document a file belongs to: the one named by id, else the live one with its file name."""
    if document_id is not None:
        return await doc_store.get_document(conn, document_id)
    return await doc_store.find_by_file_name(conn, file_name)


def _batches(chunked: list[tuple[Page, list[Chunk]]], target: int) -> list[list[tuple[Page, list[Chunk]]]]:
    """Groups of whole pages with about ``target`` chunks each (a page is never split across writes)."""
    batches: list[list[tuple[Page, list[Chunk]]]] = []
    current: list[tuple[Page, list[Chunk]]] = []
    size = 0
    for item in chunked:
        current.append(item)
        size += len(item[1])
        if size >= target:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _counts(result: FileResult) -> dict[str, int]:
    return {
        "pages_embedded": result.pages_embedded,
        "pages_reused": result.pages_reused,
        "pages_deleted": result.pages_deleted,
        "chunks_written": result.chunks_written,
        "chunks_deleted": result.chunks_deleted,
    }
