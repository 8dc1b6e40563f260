"""GET /api/v1/rate-limit/status: the caller's limit, what is left, and when the window resets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import ChatKey, ResourcesDep

router = APIRouter(prefix="/api/v1", tags=["rate limits"])


@router.get("/rate-limit/status", summary="Your API key's rate limit (this request included)")
async def rate_limit_status(request: Request, key: ChatKey, resources: ResourcesDep) -> dict[str, Any]:
    decision = await resources.limiter.peek(f"key:{key.id}", resources.key_rate)
    return {
        "limit": decision.limit,
        "remaining": decision.remaining,
        "reset_seconds": round(decision.reset_seconds, 3),
        "window_seconds": resources.key_rate.seconds,
        "scope": decision.scope,
    }
