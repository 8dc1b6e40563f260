"""Ingest throughput on the golden PDFs: first ingest, re-ingest, and the embedding-only ceiling.

The ceiling embeds exactly the chunks the first ingest embedded, with the same model and batch
size, and nothing else: parsing, chunking and writing are what the first ingest adds on top.
The model is loaded and warmed before any timing.

    python scripts/benchmark_ingest.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from benchlib import DATASET, emit, isolated_database, parser

from app.embed import create_embedder
from app.ingest.chunking import chunk_page
from app.ingest.pipeline import IngestReport
from app.ingest.sandbox import parse_pdf
from app.ingest.service import open_ingestor
from app.settings import Settings


def pick_files(quick: bool) -> list[Path]:
    manifest = json.loads((DATASET / "manifest.json").read_text())
    entries = sorted(manifest, key=lambda d: d["pages"])[:3] if quick else manifest
    return [DATASET / "documents" / e["file"] for e in entries]


async def run_ingest(settings: Settings, url: str, embedder: Any, files: list[Path]) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    async with open_ingestor(settings, url, embedder=embedder) as ingestor:
        for path in files:
            report.results.append(await ingestor.ingest_bytes(path.read_bytes(), file_name=path.name))
    report.seconds = time.perf_counter() - started
    return report


def embedding_ceiling(settings: Settings, embedder: Any, files: list[Path]) -> tuple[float, int, int]:
    import uuid

    texts: list[str] = []
    pages = 0
    for path in files:
        parsed = parse_pdf(path.read_bytes())
        pages += len(parsed.pages)
        for page in parsed.pages:
            chunks = chunk_page(
                uuid.uuid4(),
                page.number,
                page.sha256,
                page.text,
                chunk_size=settings.chunk_size,
                chunk_overlap=settings.chunk_overlap,
            )
            texts.extend(c.text for c in chunks)
    started = time.perf_counter()
    embedder.model.get_text_embedding_batch(texts)
    return time.perf_counter() - started, pages, len(texts)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    files = pick_files(args.quick)
    embedder = create_embedder(settings)
    embedder.model.get_text_embedding_batch(["warm up the model"] * settings.embed_batch_size)
    with isolated_database(args.database_url) as url:
        first = asyncio.run(run_ingest(settings, url, embedder, files))
        again = asyncio.run(run_ingest(settings, url, embedder, files))
    ceiling_s, pages, chunks = embedding_ceiling(settings, embedder, files)
    s1, s2 = first.summary(), again.summary()
    figures = {
        "files": len(files),
        "pages": s1["pages_total"],
        "chunks": s1["chunks_written"],
        "first_ingest": {
            "seconds": round(first.seconds, 2),
            "pages_per_s": round(s1["pages_total"] / first.seconds, 1),
            "embeddings": s1["embeddings"],
        },
        "reingest": {
            "seconds": round(again.seconds, 3),
            "pages_per_s": round(s2["pages_total"] / again.seconds, 1),
            "embeddings": s2["embeddings"],
            "chunks_written": s2["chunks_written"],
        },
        "embedding_only": {
            "seconds": round(ceiling_s, 2),
            "pages_per_s": round(pages / ceiling_s, 1),
            "chunks_per_s": round(chunks / ceiling_s, 1),
        },
        "reingest_speedup": round(first.seconds / again.seconds, 1),
        "first_vs_ceiling": round(ceiling_s / first.seconds, 3),
        "failed": s1["failed"],
    }
    table = "\n".join(
        [
            f"{len(files)} PDFs, {s1['pages_total']} pages, {s1['chunks_written']} chunks "
            f"({settings.embed_provider}, chunk {settings.chunk_size}/{settings.chunk_overlap} tokens, batch {settings.embed_batch_size})",
            f"{'run':<22} {'seconds':>9} {'pages/s':>9} {'embeddings':>11}",
            f"{'first ingest':<22} {first.seconds:>9.2f} {figures['first_ingest']['pages_per_s']:>9.1f} {s1['embeddings']:>11}",
            f"{'re-ingest (unchanged)':<22} {again.seconds:>9.3f} {figures['reingest']['pages_per_s']:>9.1f} {s2['embeddings']:>11}",
            f"{'embedding only':<22} {ceiling_s:>9.2f} {figures['embedding_only']['pages_per_s']:>9.1f} {chunks:>11}",
            f"re-ingest is {figures['reingest_speedup']}x faster than the first ingest; "
            f"first ingest runs at {figures['first_vs_ceiling']:.0%} of the embedding-only ceiling",
        ]
    )
    emit(args, figures, table)


if __name__ == "__main__":
    main()
