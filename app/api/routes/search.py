"""``POST /api/v1/search``: the ranked passages without an answer, with each retriever's say in the ranking.

For agents that bring their own model, and for people checking why an answer cited what it did:
the same retrieval as ``/api/v1/chat`` (same filters, one passage per page), and for each
passage its fused score and its rank and score in the dense and the BM25 list (``null`` where that
list did not find it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from app.api.deps import ChatKey, ChatServiceDep
from app.api.errors import request_id_of
from app.api.inputs import ApiModel
from app.api.routes.chat import Filters
from app.store.search import Hit

router = APIRouter(prefix="/api/v1", tags=["chat"])


class SearchBody(ApiModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(10, ge=1, le=50)
    filters: Filters | None = None


def _ranks(hits: list[Hit]) -> dict[str, tuple[int, float]]:
    return {hit.node_id: (rank, hit.score) for rank, hit in enumerate(hits, start=1)}


def _side(ranks: dict[str, tuple[int, float]], node_id: str) -> dict[str, Any] | None:
    found = ranks.get(node_id)
    return None if found is None else {"rank": found[0], "score": round(found[1], 6)}


@router.post("/search", summary="Ranked passages for a query (no answer), with each retriever's rank and score")
async def search(body: SearchBody, request: Request, _: ChatKey, service: ChatServiceDep) -> dict[str, Any]:
    filters = body.filters or Filters()
    retrieval = await service.retriever.retrieve(
        body.query, top_k=body.top_k, document_ids=filters.document_ids or None, tags=filters.tags or None
    )
    dense, lexical = _ranks(retrieval.dense), _ranks(retrieval.lexical)
    results = [
        {
            "rank": rank,
            "document_id": str(hit.document_id),
            "version": hit.version,
            "file_name": hit.file_name,
            "page": hit.page,
            "text": hit.text,
            "score": hit.score,
            "dense": _side(dense, hit.node_id),
            "lexical": _side(lexical, hit.node_id),
        }
        for rank, hit in enumerate(retrieval.hits, start=1)
    ]
    return {"retrieval": retrieval.mode, "results": results, "request_id": request_id_of(request)}
