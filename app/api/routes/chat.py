"""POST /api/v1/chat: a cited answer as JSON, as Server-Sent Events, or (auto) whichever fits."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field

from app.api.deps import ChatKey, ChatServiceDep
from app.api.errors import request_id_of
from app.api.inputs import ApiModel
from app.core.errors import PagewiseError
from app.llm.base import GenerationParams
from app.rag.service import ChatRequest, ChatResult, Final, Token

router = APIRouter(prefix="/api/v1", tags=["chat"])

AUTO_JSON_LIMIT = 300  # stream=auto: answers complete within this many characters come back as JSON


class Filters(ApiModel):
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)


class ChatBody(ApiModel):
    question: str = Field(min_length=1, max_length=4000)
    session_id: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    filters: Filters | None = None


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _final_payload(final: Final, request_id: str | None) -> dict[str, Any]:
    payload = ChatResult("", final).as_json()
    payload.pop("answer")
    payload.pop("citations")
    return {**payload, "request_id": request_id}


async def _event_stream(
    buffered: list[Token | Final],
    rest: AsyncGenerator[Token | Final, None],
    request_id: str | None,
    on_complete: Callable[[ChatResult], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    parts: list[str] = []
    async with aclosing(rest):  # a client that disconnects closes the chain down to the provider
        try:
            for event in [*buffered]:
                parts.append(event.text if isinstance(event, Token) else "")
                yield _encode(event, request_id)
            async for event in rest:
                if isinstance(event, Token):
                    parts.append(event.text)
                elif on_complete is not None:
                    await on_complete(ChatResult("".join(parts), event))
                yield _encode(event, request_id)
        except PagewiseError as exc:
            yield _sse("error", {"code": exc.code, "message": exc.message, "request_id": request_id})


def _cached_response(raw: str, stream: str, request_id: str | None) -> Any:
    headers = {"X-Cache": "hit"}
    if stream != "true":
        # the stored object with this request's id appended: a hit is neither decoded nor encoded again
        return Response(
            f'{raw[:-1]}, "request_id": {json.dumps(request_id)}}}', media_type="application/json", headers=headers
        )
    hit = json.loads(raw)
    done = {k: v for k, v in hit.items() if k not in ("answer", "citations")}
    body = (
        _sse("token", {"text": hit["answer"]})
        + _sse("citations", hit["citations"])
        + _sse("done", {**done, "request_id": request_id})
    )
    return StreamingResponse(iter([body]), media_type="text/event-stream", headers=headers)


def _encode(event: Token | Final, request_id: str | None) -> bytes:
    if isinstance(event, Token):
        return _sse("token", {"text": event.text})
    citations = ChatResult("", event).as_json()["citations"]
    return _sse("citations", citations) + _sse("done", _final_payload(event, request_id))


@router.post(
    "/chat",
    summary="Answer a question from your documents, with page citations",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE: token…, citations, done (or error)"}
    },
)
async def chat(
    body: ChatBody,
    request: Request,
    key: ChatKey,
    service: ChatServiceDep,
    model: Annotated[str | None, Query(max_length=200, description="Pin a provider or model")] = None,
    stream: Annotated[Literal["true", "false", "auto"], Query()] = "auto",
    top_k: Annotated[int, Query(ge=1, le=50)] = 8,
    temperature: Annotated[float, Query(ge=0.0, le=2.0)] = 0.1,
    max_tokens: Annotated[int, Query(ge=1, le=4096)] = 512,
) -> Any:
    filters = body.filters or Filters()
    chat_request = ChatRequest(
        question=body.question,
        top_k=top_k,
        document_ids=filters.document_ids or None,
        tags=filters.tags or None,
        model=model,
        params=GenerationParams(temperature=temperature, max_tokens=max_tokens),
        session_id=body.session_id,
        owner=str(key.id),
    )
    request_id = request_id_of(request)
    answer_key = None if body.session_id else await service.cache_key(chat_request)
    hit = await service.cached(answer_key)
    if hit is not None:
        return _cached_response(hit, stream, request_id)
    cache_header = {"X-Cache": "bypass" if body.session_id else "miss"}

    async def remember(result: ChatResult) -> None:
        await service.remember(answer_key, result)

    events = service.stream(chat_request)
    buffered: list[Token | Final] = []
    size = 0
    # Read ahead before answering: errors found early (unknown model, database down) stay proper
    # JSON errors, and stream=auto learns whether the answer is short.
    async for event in events:
        buffered.append(event)
        if isinstance(event, Final):
            break
        size += len(event.text)
        if stream == "true" or (stream == "auto" and size > AUTO_JSON_LIMIT):
            return StreamingResponse(
                _event_stream(buffered, events, request_id, remember),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **cache_header},
            )
    await events.aclose()
    final = buffered[-1]
    assert isinstance(final, Final)
    result = ChatResult("".join(e.text for e in buffered if isinstance(e, Token)), final)
    await service.remember(answer_key, result)
    if stream == "true":
        return StreamingResponse(
            _event_stream(buffered, _empty(), request_id), media_type="text/event-stream", headers=cache_header
        )
    return JSONResponse({**result.as_json(), "request_id": request_id}, headers=cache_header)


async def _empty() -> AsyncGenerator[Token | Final, None]:
    return
    yield  # an async generator with nothing left to send


SessionId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/chat/sessions/{session_id}", summary="The remembered turns of one of your sessions, oldest first")
async def get_session(session_id: SessionId, key: ChatKey, service: ChatServiceDep) -> dict[str, Any]:
    memory = service.memory
    turns = await memory.load(str(key.id), session_id) if memory is not None else []
    return {
        "session_id": session_id,
        "turns": [{"question": t.question, "answer": t.answer, "at": t.at} for t in turns],
    }


@router.delete("/chat/sessions/{session_id}", status_code=204, summary="Forget one of your sessions")
async def delete_session(session_id: SessionId, key: ChatKey, service: ChatServiceDep) -> Response:
    if service.memory is not None:
        await service.memory.clear(str(key.id), session_id)
    return Response(status_code=204)
