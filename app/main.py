"""Builds the FastAPI app; the lifespan creates the database engine and Redis pool once per worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry, Counter

from app.api.errors import install_error_handlers
from app.api.inputs import url_without_nul
from app.api.middleware import HttpMetrics, RequestContextMiddleware
from app.api.routes import chat, docs, limits, models, ops
from app.api.routes import search as search_routes
from app.api.state import AppResources
from app.auth.service import Authenticator
from app.cache.answers import AnswerCache
from app.cache.memory import ConversationMemory
from app.cache.ratelimit import RateLimiter
from app.cache.redis import create_redis
from app.core.errors import ConfigError
from app.core.logging import configure_logging, get_logger
from app.core.rates import Rate
from app.core.tracing import Tracer
from app.embed import Embedder, create_embedder
from app.ingest.jobs import JobWorker
from app.ingest.service import build_ingestor, parse_limits
from app.ingest.uploads import Uploads
from app.llm.factory import build_router
from app.llm.metrics import LLMMetrics
from app.rag.retrieval import HybridRetriever
from app.rag.service import ChatService
from app.settings import Settings, load_settings
from app.store import db, migrate
from app.store.embedded import stop_embedded
from app.store.search import VectorSearch
from app.store.supervisor import EmbeddedSupervisor
from app.store.vectors import ensure_table_for

log = get_logger(__name__)

VERSION = "0.1.0"


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if get else None


async def _open_resources(settings: Settings, registry: CollectorRegistry) -> AppResources:
    url = await asyncio.to_thread(db.resolve_database_url, _secret(settings.database_url), settings.data_dir)
    current, head = await asyncio.gather(
        asyncio.to_thread(migrate.current_revision, url), asyncio.to_thread(migrate.head_revision)
    )
    if current != head:
        raise ConfigError(
            f"The database schema is at revision {current or 'none'} but this code needs {head}. "
            "Run `python -m app migrate` (or `make run`, which migrates first) and start again."
        )
    tracer = Tracer(
        settings.langfuse_public_key,
        _secret(settings.langfuse_secret_key),
        host=settings.langfuse_host,
        environment=settings.environment,
        release=VERSION,
    )
    engine = db.create_engine(
        url,
        pool_size=settings.db_pool_size,
        connect_timeout=settings.db_connect_timeout,
        ef_search=settings.hnsw_ef_search,
    )
    redis = create_redis(
        _secret(settings.redis_url), max_connections=settings.redis_max_connections, timeout=settings.redis_timeout
    )
    embedder = create_embedder(settings)
    async with engine.begin() as conn:
        table = await ensure_table_for(conn, embedder.model_id, embedder.dim)
    search = await VectorSearch.open(
        url,
        table.index_name,
        size=settings.db_pool_size,
        ef_search=settings.hnsw_ef_search,
        timeout=settings.db_connect_timeout,
    )
    llm_router = build_router(settings, redis, on_call=LLMMetrics(registry, tracer))
    worker = JobWorker(engine, build_ingestor(settings, engine, url, table, embedder))
    return AppResources(
        settings=settings,
        database_url=url,
        engine=engine,
        redis=redis,
        registry=registry,
        authenticator=Authenticator(engine, settings.auth_cache_seconds),
        router=llm_router,
        tracer=tracer,
        search=search,
        chat=ChatService(
            HybridRetriever(
                search,
                embedder,
                dense_weight=settings.retrieval_dense_weight,
                lexical_weight=settings.retrieval_lexical_weight,
            ),
            llm_router,
            engine=engine,
            cache=AnswerCache(redis, settings.cache_ttl_seconds),
            on_cache=_cache_counter(registry),
            memory=ConversationMemory(redis, turns=settings.memory_turns, ttl_seconds=settings.memory_ttl_days * 86400),
            memory_token_budget=settings.memory_token_budget,
            tracer=tracer,
        ),
        limiter=RateLimiter(redis, processes=settings.workers),
        key_rate=Rate.parse(settings.rate_limit_per_key),
        ip_rate=Rate.parse(settings.rate_limit_per_ip),
        uploads=Uploads(engine, limits=parse_limits(settings), on_queued=worker.notify),
        jobs=worker,
        embedder=embedder,
    )


def _cache_counter(registry: CollectorRegistry) -> Callable[[str], None]:
    counter = Counter(
        "answer_cache_requests_total", "Answer cache lookups, by result (hit, miss).", ["result"], registry=registry
    )
    return lambda result: counter.labels(result=result).inc()


async def _prepare_embedder(embedder: Embedder) -> None:
    started = time.perf_counter()
    try:
        await asyncio.to_thread(embedder.prepare)
        log.debug("question embedder loaded", model=embedder.model_id, seconds=round(time.perf_counter() - started, 2))
    except Exception as exc:  # a chat request meets the same error and reports it; serving goes on
        log.warning("the question embedder could not be loaded in advance", error=str(exc))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    resources = await _open_resources(app.state.settings, app.state.registry)
    app.state.resources = resources
    resources.jobs.start()
    supervisor = None
    if resources.settings.database_url is None:  # ours to keep running (app/store/supervisor.py)
        supervisor = EmbeddedSupervisor(resources.engine, resources.settings.data_dir)
        supervisor.start()
    # The question embedder loads beside serving (the first start also exports it, ~5 s): a question
    # that comes sooner waits for it, a health check does not.
    warming = asyncio.create_task(_prepare_embedder(resources.embedder))
    log.info("pagewise ready", redis=resources.redis is not None, environment=resources.settings.environment)
    try:
        yield
    finally:
        await warming  # a thread cannot be cancelled; it is quick once the graph exists
        if supervisor is not None:
            await supervisor.stop()
        await resources.jobs.stop()
        await resources.jobs.ingestor.store.close()
        await resources.router.aclose()
        await resources.search.close()
        await asyncio.to_thread(resources.tracer.shutdown)
        await resources.engine.dispose()
        if resources.redis is not None:
            await resources.redis.aclose()
        if resources.settings.database_url is None:
            # Release this process's handle: the last process out stops the embedded server.
            await asyncio.to_thread(stop_embedded, resources.settings.data_dir)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app for ``settings`` (read from the environment when omitted)."""
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format, settings.environment)
    app = FastAPI(
        title="Pagewise",
        version=VERSION,
        description="Self-hosted RAG over your PDFs with page-level citations.",
        lifespan=lifespan,
        dependencies=[Depends(url_without_nul)],
    )
    app.state.settings = settings
    app.state.registry = CollectorRegistry()
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "X-Cache",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "X-RateLimit-Scope",
            ],
        )
    app.include_router(ops.router)
    app.include_router(models.router)
    app.include_router(chat.router)
    app.include_router(search_routes.router)
    app.include_router(limits.router)
    app.include_router(docs.router)
    # Outermost: every response, errors included, carries the request id.
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(app.state.registry))
    return app
