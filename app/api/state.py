"""What the app builds once per worker process in its lifespan and routes reach through deps."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.service import Authenticator
from app.cache.ratelimit import RateLimiter
from app.core.rates import Rate
from app.core.tracing import Tracer
from app.embed.base import Embedder
from app.ingest.jobs import JobWorker
from app.ingest.uploads import Uploads
from app.llm.router import Router
from app.rag.service import ChatService
from app.settings import Settings
from app.store.search import VectorSearch


@dataclass
class AppResources:
    """Long-lived clients shared by all requests of one worker process."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    redis: Redis | None
    registry: CollectorRegistry
    authenticator: Authenticator
    router: Router
    tracer: Tracer
    search: VectorSearch
    chat: ChatService
    limiter: RateLimiter
    key_rate: Rate
    ip_rate: Rate
    uploads: Uploads
    jobs: JobWorker
    embedder: Embedder
