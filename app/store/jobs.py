"""Ingestion jobs in PostgreSQL: queued by the upload's transaction, claimed by any worker process.

A worker claims the oldest queued job with ``FOR UPDATE SKIP LOCKED`` (so several processes never
take the same one) and keeps ``heartbeat_at`` fresh while it runs. A job whose heartbeat stopped
(its process was killed or restarted) is queued again, or failed once it has been tried
``max_attempts`` times: never left "running" forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.documents import fail_version
from app.store.tables import ingest_jobs


@dataclass(frozen=True)
class JobRow:
    id: uuid.UUID
    document_id: uuid.UUID
    version: int
    status: str
    pages_done: int
    pages_total: int
    attempts: int
    error_code: str | None
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _to_job(row: Any) -> JobRow:
    m = row._mapping
    return JobRow(**{name: m[name] for name in JobRow.__dataclass_fields__})


async def create_job(
    conn: AsyncConnection,
    document_id: uuid.UUID,
    version: int,
    *,
    pages_total: int,
    created_by: uuid.UUID | None = None,
) -> uuid.UUID:
    job_id: uuid.UUID = (
        await conn.execute(
            insert(ingest_jobs)
            .values(document_id=document_id, version=version, pages_total=pages_total, created_by=created_by)
            .returning(ingest_jobs.c.id)
        )
    ).scalar_one()
    return job_id


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> JobRow | None:
    row = (await conn.execute(select(ingest_jobs).where(ingest_jobs.c.id == job_id))).first()
    return _to_job(row) if row else None


async def latest_job(conn: AsyncConnection, document_id: uuid.UUID, version: int) -> JobRow | None:
    row = (
        await conn.execute(
            select(ingest_jobs)
            .where(ingest_jobs.c.document_id == document_id, ingest_jobs.c.version == version)
            .order_by(ingest_jobs.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return _to_job(row) if row else None


async def claim_next(conn: AsyncConnection) -> JobRow | None:
    """Take the oldest queued job for this process (None when there is none)."""
    row = (
        await conn.execute(
            text(
                "UPDATE ingest_jobs SET status = 'running', attempts = attempts + 1, heartbeat_at = now(),"
                " started_at = coalesce(started_at, now()), error = NULL, error_code = NULL"
                " WHERE id = (SELECT id FROM ingest_jobs WHERE status = 'queued'"
                " ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *"
            )
        )
    ).first()
    return _to_job(row) if row else None


async def beat(conn: AsyncConnection, job_id: uuid.UUID, pages_done: int) -> None:
    """The worker is alive and has done ``pages_done`` pages."""
    await conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id, ingest_jobs.c.status == "running")
        .values(heartbeat_at=text("now()"), pages_done=pages_done)
    )


async def succeed(conn: AsyncConnection, job_id: uuid.UUID, result: dict[str, Any]) -> None:
    await conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id)
        .values(
            status="succeeded",
            result=result,
            pages_done=ingest_jobs.c.pages_total,
            finished_at=text("now()"),
            heartbeat_at=text("now()"),
        )
    )


async def fail(conn: AsyncConnection, job_id: uuid.UUID, code: str, message: str) -> None:
    await conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id)
        .values(status="failed", error_code=code, error=message[:2000], finished_at=text("now()"))
    )


async def requeue(conn: AsyncConnection, job_id: uuid.UUID) -> None:
    """Give a job back (its worker is shutting down); another process, or the next start, resumes it."""
    await conn.execute(
        update(ingest_jobs)
        .where(ingest_jobs.c.id == job_id, ingest_jobs.c.status == "running")
        .values(status="queued", attempts=ingest_jobs.c.attempts - 1)
    )


async def recover_stale(conn: AsyncConnection, *, stale_seconds: float, max_attempts: int) -> tuple[int, int]:
    """Jobs whose worker stopped beating: queued again, or failed after ``max_attempts``. Returns (requeued, failed)."""
    failed = await conn.execute(
        text(
            "UPDATE ingest_jobs SET status = 'failed', finished_at = now(), error_code = 'job_interrupted',"
            " error = 'The ingestion was interrupted ' || attempts || ' times (the server stopped or restarted"
            " while it ran). Upload the file again to retry.'"
            " WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)"
            " AND attempts >= :max RETURNING document_id, version, error"
        ),
        {"stale": stale_seconds, "max": max_attempts},
    )
    given_up = failed.all()
    for document_id, version, error in given_up:
        await fail_version(conn, document_id, version, f"job_interrupted: {error}")
    requeued = await conn.execute(
        text(
            "UPDATE ingest_jobs SET status = 'queued'"
            " WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)"
        ),
        {"stale": stale_seconds},
    )
    return requeued.rowcount, len(given_up)
