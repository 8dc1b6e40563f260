"""The ingestion job worker: one per app process, taking queued uploads off the request path.

It claims jobs from PostgreSQL (so any process may run any job, each job once), reads the stored
original, and runs the incremental ingest, reporting pages done and a heartbeat every
``beat_seconds``. A job whose process died is found by its stale heartbeat and queued again (the
ingest resumes where it stopped) or, after ``max_attempts``, failed with ``job_interrupted``. On
a clean shutdown the running job is handed back to the queue at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import PagewiseError
from app.core.logging import get_logger
from app.core.tasks import cancel_and_wait
from app.ingest.pipeline import Ingestor, ProgressFn
from app.store import catalog, jobs

log = get_logger(__name__)


class JobWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        ingestor: Ingestor,
        *,
        poll_seconds: float = 2.0,
        beat_seconds: float = 2.0,
        stale_seconds: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        self.engine = engine
        self.ingestor = ingestor
        self.poll_seconds = poll_seconds
        self.beat_seconds = beat_seconds
        self.stale_seconds = stale_seconds
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="ingest-jobs")

    def notify(self) -> None:
        """A job was just queued: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                async with self.engine.begin() as conn:
                    requeued, failed = await jobs.recover_stale(
                        conn, stale_seconds=self.stale_seconds, max_attempts=self.max_attempts
                    )
                if requeued or failed:
                    log.warning("ingestion jobs found interrupted", requeued=requeued, failed=failed)
                while await self.run_one():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down for a while: keep the worker alive
                log.exception("the ingestion job worker hit an error; retrying")
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11, wait_for swallows a cancel that arrives as the
            # event is set (an upload just before shutdown), and stop() then waited forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def run_one(self) -> bool:
        """Claim and run the oldest queued job; False when there was none."""
        async with self.engine.begin() as conn:
            job = await jobs.claim_next(conn)
        if job is None:
            return False
        log.info("ingestion job started", job_id=str(job.id), document_id=str(job.document_id), version=job.version)
        done = 0

        def progress(pages: int) -> None:
            nonlocal done
            done += pages

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.beat_seconds)
                async with self.engine.begin() as conn:
                    await jobs.beat(conn, job.id, done)

        beating = asyncio.create_task(beat())
        try:
            await self._ingest(job.id, job.document_id, job.version, progress)
        except asyncio.CancelledError:
            async with self.engine.begin() as conn:
                await jobs.requeue(conn, job.id)
            log.warning("ingestion job handed back for another worker", job_id=str(job.id))
            raise
        except PagewiseError as exc:
            await self._fail(job.id, exc.code, exc.message)
        except Exception as exc:
            log.exception("ingestion job failed", job_id=str(job.id))
            await self._fail(job.id, "internal_error", f"The ingestion failed unexpectedly ({type(exc).__name__}).")
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beating
        return True

    async def _ingest(self, job_id: uuid.UUID, document_id: uuid.UUID, version: int, progress: ProgressFn) -> None:
        async with self.engine.connect() as conn:
            stored = await catalog.version_file(conn, document_id, version)
        if stored is None:
            raise PagewiseError(f"The file of version {version} is missing.", code="file_missing")
        file_name, data = stored
        result = await self.ingestor.ingest_bytes(
            data,
            file_name=file_name,
            document_id=document_id,
            progress=progress,
        )
        summary = {k: v for k, v in asdict(result).items() if k not in ("document_id", "error", "error_code")}
        async with self.engine.begin() as conn:
            await jobs.succeed(conn, job_id, summary)
        log.info(
            "ingestion job succeeded", job_id=str(job_id), **{k: summary[k] for k in ("pages_embedded", "pages_reused")}
        )

    async def _fail(self, job_id: uuid.UUID, code: str, message: str) -> None:
        async with self.engine.begin() as conn:
            await jobs.fail(conn, job_id, code, message)
        log.warning("ingestion job failed", job_id=str(job_id), code=code, error=message)
