"""FastAPI dependencies as ``Annotated`` aliases: routes declare what they need, never build it.

All are ``async def``, even those that do no I/O: FastAPI runs a plain ``def`` dependency in its
thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.state import AppResources
from app.auth.keys import ApiKey
from app.cache.ratelimit import Decision
from app.core.errors import RateLimited
from app.llm.router import Router
from app.rag.service import ChatService
from app.settings import Settings


async def get_resources(request: Request) -> AppResources:
    """The resources the lifespan built for this worker."""
    resources: AppResources = request.app.state.resources
    return resources


async def get_settings(resources: Annotated[AppResources, Depends(get_resources)]) -> Settings:
    return resources.settings


async def get_engine(resources: Annotated[AppResources, Depends(get_resources)]) -> AsyncEngine:
    return resources.engine


async def get_redis(resources: Annotated[AppResources, Depends(get_resources)]) -> Redis | None:
    return resources.redis


ResourcesDep = Annotated[AppResources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
RedisDep = Annotated[Redis | None, Depends(get_redis)]


async def get_router(resources: Annotated[AppResources, Depends(get_resources)]) -> Router:
    return resources.router


RouterDep = Annotated[Router, Depends(get_router)]


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def _enforce(request: Request, decision: Decision, who: str) -> None:
    """Remember the tightest decision for the X-RateLimit-* headers; 429 when over the limit."""
    current: Decision | None = getattr(request.state, "rate_limit", None)
    if current is None or decision.remaining <= current.remaining:
        request.state.rate_limit = decision
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests for {who}: the limit is {decision.limit} per window. Retry in {decision.retry_after} s.",
            retry_after=decision.retry_after,
            details={"limit": decision.limit, "reset_seconds": round(decision.reset_seconds, 3)},
        )


def require(scope: str, *alternatives: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's API key, which must hold ``scope`` or an alternative (401 without a valid key, 403 without)."""

    async def dependency(request: Request, resources: Annotated[AppResources, Depends(get_resources)]) -> ApiKey:
        client = request.client.host if request.client else "unknown"
        _enforce(request, await resources.limiter.hit(f"ip:{client}", resources.ip_rate), "this IP address")
        key = await resources.authenticator.authenticate(_presented_key(request))
        resources.authenticator.authorize(key, scope, *alternatives)
        request.state.api_key_id = str(key.id)
        _enforce(
            request, await resources.limiter.hit(f"key:{key.id}", resources.key_rate), f"the API key {key.prefix}…"
        )
        return key

    return dependency


ChatKey = Annotated[ApiKey, Depends(require("chat"))]
DocsWriteKey = Annotated[ApiKey, Depends(require("docs:write"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
# Jobs are read by whoever may read documents or upload them: an uploader polls its own upload.
JobsKey = Annotated[ApiKey, Depends(require("chat", "docs:write"))]


async def get_chat_service(resources: Annotated[AppResources, Depends(get_resources)]) -> ChatService:
    return resources.chat


ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
