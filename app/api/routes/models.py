"""Which LLMs can answer, in priority order, and which are disabled (with the variable that enables them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import ChatKey, RouterDep

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.get("/models", summary="The LLM chain: enabled providers in priority order, then disabled ones")
async def list_models(_: ChatKey, llm_router: RouterDep) -> dict[str, Any]:
    return {"models": llm_router.models()}
