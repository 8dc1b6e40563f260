"""`python -m app ingest PATH…`: a progress bar on a terminal (a log line every 10 s elsewhere), a JSON summary with --json."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from app.core.errors import PagewiseError
from app.core.progress import Progress
from app.ingest.pipeline import FileResult, IngestReport
from app.ingest.service import expand_pdf_paths, open_ingestor
from app.settings import Settings


def run_ingest(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    files = expand_pdf_paths(list(args.paths))
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        print(f"error [not_found]: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    tags = [t.strip() for t in args.tags.split(",") if t.strip()]
    report = asyncio.run(_ingest_all(settings, database_url, files, tags))
    summary = report.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        for failure in summary["failed"]:
            print(f"failed: {failure['file']} [{failure['code']}] {failure['error']}", file=sys.stderr)
        print(
            f"{summary['files']} files, {summary['pages_total']} pages: {summary['pages_embedded']} embedded, "
            f"{summary['pages_reused']} reused, {summary['pages_deleted']} deleted; "
            f"{summary['chunks_written']} chunks written in {summary['seconds']:.1f} s"
        )
    return 1 if summary["failed"] else 0


async def _ingest_all(settings: Settings, database_url: str, files: list[Path], tags: list[str]) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    progress = Progress("ingest", len(files), weights=[p.stat().st_size for p in files])
    async with open_ingestor(settings, database_url) as ingestor:
        for path in files:
            try:
                result = await ingestor.ingest_bytes(
                    path.read_bytes(), file_name=path.name, tags=tags, progress=progress.add_pages
                )
            except PagewiseError as exc:
                result = FileResult(file_name=path.name, status="failed", error_code=exc.code, error=exc.message)
            report.results.append(result)
            progress.item_done(path.name)
    progress.close()
    report.seconds = time.perf_counter() - started
    return report
