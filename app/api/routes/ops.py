"""Liveness, readiness and metrics for orchestrators, load balancers and Prometheus (no API key needed)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from app.api.deps import EngineDep, RedisDep, ResourcesDep, SettingsDep
from app.cache import redis as redis_store
from app.core.errors import DependencyUnavailable
from app.core.logging import get_logger
from app.store import db

log = get_logger(__name__)

# /ready is public: it says what is down, never where it is or what it answered (that is logged)
_UNAVAILABLE = {
    "database": "PostgreSQL did not answer; the server log says why.",
    "redis": "Redis did not answer; the server log says why.",
}

router = APIRouter(tags=["ops"])


@router.get("/health", summary="Liveness: the process is up (no I/O)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _timed(name: str, check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await check
    except DependencyUnavailable as exc:
        cause = exc.__cause__
        log.warning(
            "readiness check failed",
            dependency=name,
            error=exc.message,
            cause=f"{type(cause).__name__}: {cause}" if cause else None,
        )
        return {"status": "unavailable", "error": _UNAVAILABLE[name]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@router.get(
    "/ready",
    summary="Readiness: PostgreSQL and Redis answer",
    responses={503: {"description": "A dependency is down; `error.details.checks` says which"}},
)
async def ready(engine: EngineDep, redis: RedisDep, settings: SettingsDep) -> dict[str, Any]:
    timeout = min(2.0, settings.redis_timeout)
    database_check = _timed("database", db.ping(engine, timeout=2.0))
    if redis is None:
        database = await database_check
        redis_result: dict[str, Any] = {"status": "not_configured"}
    else:
        database, redis_result = await asyncio.gather(database_check, _timed("redis", redis_store.ping(redis, timeout)))
    checks = {"database": database, "redis": redis_result}
    failed = [name for name, result in checks.items() if result["status"] == "unavailable"]
    if failed:
        raise DependencyUnavailable(
            f"Not ready: {', '.join(failed)} unavailable. " + " ".join(checks[n]["error"] for n in failed),
            code="not_ready",
            details={"checks": checks, "failed": failed},
        )
    return {"status": "ready", "checks": checks}


@router.get("/metrics", include_in_schema=False)
async def metrics(resources: ResourcesDep) -> Response:
    """Prometheus text format: HTTP requests and latency, LLM calls, answer-cache lookups.

    With several workers (``PROMETHEUS_MULTIPROC_DIR``, set by ``serve``), the sum over all of them.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(resources.registry), media_type=CONTENT_TYPE_LATEST)
