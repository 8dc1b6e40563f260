"""Wires an Ingestor from settings (used by the CLI, the eval runner and the API's job worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.embed import Embedder, create_embedder
from app.ingest.pipeline import Ingestor
from app.ingest.sandbox import ParseLimits
from app.settings import Settings
from app.store import db
from app.store.vectors import VectorTable, ensure_table_for, vector_store


def parse_limits(settings: Settings) -> ParseLimits:
    """How many pages, how much memory and how long a PDF may take to read."""
    return ParseLimits(
        max_pages=settings.max_pdf_pages,
        memory_mb=settings.parse_memory_mb,
        page_seconds=settings.parse_page_seconds,
        document_seconds=settings.parse_document_seconds,
    )


def build_ingestor(
    settings: Settings, engine: AsyncEngine, database_url: str, table: VectorTable, embedder: Embedder
) -> Ingestor:
    """An Ingestor with the settings' chunking and batch sizes; the caller closes ``ingestor.store``."""
    return Ingestor(
        engine=engine,
        store=vector_store(database_url, table),
        table=table,
        embedder=embedder,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        limits=parse_limits(settings),
        write_batch_chunks=settings.embed_batch_size * 4,
    )


@asynccontextmanager
async def open_ingestor(
    settings: Settings, database_url: str, embedder: Embedder | None = None
) -> AsyncIterator[Ingestor]:
    """An Ingestor over the active vector table; refuses a table of another embedding model."""
    engine = db.create_engine(database_url, pool_size=4, connect_timeout=settings.db_connect_timeout)
    try:
        embedder = embedder or create_embedder(settings)
        async with engine.begin() as conn:
            table = await ensure_table_for(conn, embedder.model_id, embedder.dim)
        ingestor = build_ingestor(settings, engine, database_url, table, embedder)
        try:
            yield ingestor
        finally:
            await ingestor.store.close()
    finally:
        await engine.dispose()


def expand_pdf_paths(paths: list[Path]) -> list[Path]:
    """Files as given, and every *.pdf below each folder (sorted, so runs are repeatable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf"))
        else:
            found.append(path)
    return found
