"""The ingestion job worker on the embedded PostgreSQL: runs queued uploads, resumes interrupted ones,
fails hopeless ones, and hands its job back on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import text

from app.embed.base import Embedder
from app.ingest.jobs import JobWorker
from app.ingest.sandbox import ParseLimits
from app.ingest.service import open_ingestor
from app.ingest.uploads import Uploads
from app.settings import Settings
from app.store import catalog, jobs
from tests.helpers.embedders import hash_embedder
from tests.helpers.pdfs import SMALL_PDF, make_pdf


async def test_interrupted_jobs_are_resumed_or_failed_never_left_running(
    make_settings: Callable[..., Settings], database_url: str, minilm: Embedder
) -> None:
    async with open_ingestor(make_settings(), database_url, minilm) as ingestor:
        uploads = Uploads(ingestor.engine, limits=ParseLimits(max_pages=100))
        resumable = await uploads.accept(make_pdf(["Resumable page one.", "Resumable page two."]), file_name="r.pdf")
        hopeless = await uploads.accept(make_pdf(["Hopeless page."]), file_name="h.pdf")
        async with ingestor.engine.begin() as conn:  # as if a process died while running them
            await conn.execute(
                text(
                    "UPDATE ingest_jobs SET status = 'running', heartbeat_at = now() - interval '1 hour',"
                    " attempts = CASE WHEN id = :h THEN 3 ELSE 1 END"
                ),
                {"h": hopeless.job_id},
            )
        worker = JobWorker(ingestor.engine, ingestor, poll_seconds=0.05, stale_seconds=30, max_attempts=3)
        worker.start()
        try:
            for _ in range(300):
                async with ingestor.engine.connect() as conn:
                    r = await jobs.get_job(conn, resumable.job_id)  # type: ignore[arg-type]
                    h = await jobs.get_job(conn, hopeless.job_id)  # type: ignore[arg-type]
                assert r is not None
                assert h is not None
                if r.status == "succeeded" and h.status == "failed":
                    break
                await asyncio.sleep(0.1)
        finally:
            await worker.stop()
        assert (r.status, r.attempts, r.pages_done) == ("succeeded", 2, 2)
        assert (h.status, h.error_code) == ("failed", "job_interrupted")
        assert "interrupted 3 times" in (h.error or "")
        async with ingestor.engine.connect() as conn:
            hopeless_doc = await catalog.get_info(conn, hopeless.document_id)
            resumed_doc = await catalog.get_info(conn, resumable.document_id)
        assert hopeless_doc is not None
        assert hopeless_doc.status == "failed", "its version is failed too, not left pending"
        assert resumed_doc is not None
        assert (resumed_doc.status, resumed_doc.version) == ("ready", 1)


async def test_a_job_running_at_shutdown_is_handed_back_and_finished_by_the_next_worker(
    make_settings: Callable[..., Settings], database_url: str, minilm: Embedder
) -> None:
    async with open_ingestor(make_settings(), database_url, minilm) as ingestor:
        accepted = await Uploads(ingestor.engine, limits=ParseLimits(max_pages=100)).accept(
            SMALL_PDF.read_bytes(), file_name="s.pdf"
        )
        worker = JobWorker(ingestor.engine, ingestor, poll_seconds=0.05, beat_seconds=0.05)
        worker.start()
        for _ in range(200):  # stop it while it runs
            async with ingestor.engine.connect() as conn:
                job = await jobs.get_job(conn, accepted.job_id)  # type: ignore[arg-type]
            assert job is not None
            if job.status == "running":
                break
            await asyncio.sleep(0.02)
        await worker.stop()
        async with ingestor.engine.connect() as conn:
            handed_back = await jobs.get_job(conn, accepted.job_id)  # type: ignore[arg-type]
        assert handed_back is not None
        assert handed_back.status in ("queued", "succeeded")
        next_worker = JobWorker(ingestor.engine, ingestor, poll_seconds=0.05)
        assert handed_back.status == "succeeded" or await next_worker.run_one()
        async with ingestor.engine.connect() as conn:
            finished = await jobs.get_job(conn, accepted.job_id)  # type: ignore[arg-type]
            info = await catalog.get_info(conn, accepted.document_id)
        assert finished is not None
        assert finished.status == "succeeded"
        assert finished.pages_done == finished.pages_total == 17
        assert info is not None
        assert info.version == 1


async def test_a_failing_ingest_fails_its_job_with_the_reason(
    make_settings: Callable[..., Settings], database_url: str, minilm: Embedder
) -> None:
    async with open_ingestor(make_settings(), database_url, minilm) as ingestor:
        accepted = await Uploads(ingestor.engine, limits=ParseLimits(max_pages=100)).accept(
            make_pdf(["Gone."]), file_name="g.pdf"
        )
        async with ingestor.engine.begin() as conn:  # the stored original vanished (e.g. restored from a bad backup)
            await conn.execute(
                text("ALTER TABLE document_versions DROP CONSTRAINT fk_document_versions_file_sha256_files")
            )
            await conn.execute(text("DELETE FROM files"))
        assert await JobWorker(ingestor.engine, ingestor).run_one()
        async with ingestor.engine.connect() as conn:
            job = await jobs.get_job(conn, accepted.job_id)  # type: ignore[arg-type]
        assert job is not None
        assert (job.status, job.error_code) == ("failed", "file_missing")
        assert not await JobWorker(ingestor.engine, ingestor).run_one(), "nothing left to run"


async def test_stop_right_after_a_notify_always_returns(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """An upload's notify() just before shutdown swallowed the cancel (3.11's wait_for), and stop() hung."""
    embedder, _ = hash_embedder()
    async with open_ingestor(make_settings(), database_url, embedder=embedder) as ingestor:
        for _ in range(30):
            worker = JobWorker(ingestor.engine, ingestor, poll_seconds=3600)
            worker.start()
            await asyncio.sleep(0.01)  # parked on its wake event
            worker.notify()
            await asyncio.wait_for(worker.stop(), 10)
