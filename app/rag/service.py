"""The chat path: retrieve, prompt, route to an LLM (or answer extractively), cite.

``stream`` yields events (tokens, then citations, then a final summary); ``answer`` is the same
path collected into one result, so JSON and SSE answers cannot drift apart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.cache.answers import AnswerCache, cache_key
from app.cache.memory import ConversationMemory
from app.core.errors import AllProvidersFailed
from app.core.logging import get_logger
from app.core.singleflight import SingleFlight
from app.core.tracing import NO_SPAN, Tracer
from app.llm.base import GenerationParams, Usage
from app.llm.router import Router, Started
from app.rag.answer import citations_for
from app.rag.extractive import Citation, extractive_answer
from app.rag.prompt import NO_ANSWER, STOP_SEQUENCES, build_messages, cited_numbers, history_messages
from app.rag.retrieval import HybridRetriever
from app.store.documents import corpus_generation
from app.store.search import Hit

log = get_logger(__name__)

GENERATION_TTL = 1.0


@dataclass(frozen=True)
class ChatRequest:
    question: str
    top_k: int = 8
    document_ids: Sequence[uuid.UUID] | None = None
    tags: Sequence[str] | None = None
    model: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    session_id: str | None = None
    owner: str | None = None  # the API key id: sessions are per key


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Final:
    """Everything but the text: who answered, how, with which citations."""

    citations: list[Citation]
    provider: str | None
    model: str | None
    mode: str  # "generated" | "extractive"
    retrieval: str  # "hybrid" | "full_text_only"
    usage: Usage


@dataclass
class ChatResult:
    answer: str
    final: Final

    def as_json(self) -> dict[str, Any]:
        f = self.final
        return {
            "answer": self.answer,
            "citations": [
                {
                    "document_id": c.document_id,
                    "version": c.version,
                    "file_name": c.file_name,
                    "page": c.page,
                    "passage": c.passage,
                }
                for c in f.citations
            ],
            "provider": f.provider,
            "model": f.model,
            "mode": f.mode,
            "retrieval": f.retrieval,
            "usage": {"prompt_tokens": f.usage.prompt_tokens, "completion_tokens": f.usage.completion_tokens},
        }


def used_citations(answer: str, hits: Sequence[Hit]) -> list[Citation]:
    """The passages the answer cites; all of them when it cites none by number."""
    numbers = cited_numbers(answer, len(hits))
    chosen = [hits[n - 1] for n in numbers] if numbers else list(hits)
    return citations_for(chosen)


class ChatService:
    def __init__(
        self,
        retriever: HybridRetriever,
        router: Router,
        *,
        engine: AsyncEngine | None = None,
        cache: AnswerCache | None = None,
        on_cache: Callable[[str], None] | None = None,
        memory: ConversationMemory | None = None,
        memory_token_budget: int = 1500,
        tracer: Tracer | None = None,
    ) -> None:
        self.tracer = tracer
        self.memory = memory
        self.memory_token_budget = memory_token_budget
        self.retriever = retriever
        self.router = router
        self.engine = engine
        self.cache = cache
        self.on_cache = on_cache
        self._generation: tuple[float, str] = (float("-inf"), "")
        self._reads: SingleFlight[str] = SingleFlight()

    async def _corpus_generation(self) -> str:
        """Read at most once a second (by one request; the others wait for it): a document change
        is seen by the cache within 1 s."""
        if self.engine is None or time.monotonic() - self._generation[0] < GENERATION_TTL:
            return self._generation[1]
        return await self._reads.run("generation", self._read_generation)

    async def _read_generation(self) -> str:
        assert self.engine is not None
        started = time.monotonic()
        async with self.engine.connect() as conn:
            generation = await corpus_generation(conn)
        self._generation = (started, generation)
        return generation

    async def cache_key(self, request: ChatRequest) -> str | None:
        """The answer-cache key of a stateless request (None when caching is off)."""
        if self.cache is None or self.cache.ttl <= 0:
            return None
        self.router.chain(request.model)
        return cache_key(
            request.question,
            await self._corpus_generation(),
            model=request.model or "",
            top_k=request.top_k,
            document_ids=sorted(str(d) for d in request.document_ids or []),
            tags=sorted(request.tags or []),
            temperature=request.params.temperature,
            max_tokens=request.params.max_tokens,
        )

    async def cached(self, key: str | None) -> str | None:
        """The cached answer's JSON object text, or None."""
        if key is None or self.cache is None:
            return None
        hit = await self.cache.get(key)
        if self.on_cache is not None:
            self.on_cache("hit" if hit else "miss")
        return hit

    async def remember(self, key: str | None, result: ChatResult) -> None:
        """Only generated answers are kept: an extractive one means the LLMs were down just now."""
        if key is not None and self.cache is not None and result.final.mode == "generated":
            await self.cache.set(key, result.as_json())

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Token | Final, None]:
        self.router.chain(request.model)  # an unknown model fails before any work
        metadata = {"model": request.model, "top_k": request.top_k, "session": bool(request.session_id)}
        trace = self.tracer.span("chat", input=request.question, metadata=metadata) if self.tracer else NO_SPAN
        ended = False
        try:
            found = trace.child("retrieval", as_type="retriever", input=request.question)
            retrieval = await self.retriever.retrieve(
                request.question, top_k=request.top_k, document_ids=request.document_ids, tags=request.tags
            )
            found.end(
                output=[{"file": h.file_name, "page": h.page, "score": round(h.score, 4)} for h in retrieval.hits],
                metadata={"mode": retrieval.mode},
            )
            if not retrieval.hits:
                # A model given no passages can only guess (the local one invents phone numbers): say so.
                await self._remember_turn(request, NO_ANSWER)
                trace.end(output=NO_ANSWER, metadata={"mode": "extractive", "passages": 0})
                ended = True
                yield Token(NO_ANSWER)
                yield Final([], None, None, "extractive", retrieval.mode, Usage())
                return
            history = []
            if self.memory is not None and request.session_id and request.owner:
                turns = await self.memory.load(request.owner, request.session_id)
                history = history_messages([(t.question, t.answer) for t in turns], self.memory_token_budget)
            messages = build_messages(request.question, retrieval.hits, history)
            provider = model = None
            usage = Usage()
            params = replace(request.params, stop=STOP_SEQUENCES)
            parts: list[str] = []
            try:
                async for event in self.router.stream(messages, params, request.model, trace=trace):
                    if isinstance(event, Started):
                        provider, model = event.provider, event.model
                        continue
                    usage = event.usage or usage
                    if event.text:
                        parts.append(event.text)
                        yield Token(event.text)
            except AllProvidersFailed as exc:
                log.warning("no LLM could answer; answering extractively", attempts=exc.attempts)
                fallback = extractive_answer(request.question, retrieval.hits)
                await self._remember_turn(request, fallback.text)
                trace.end(output=fallback.text, metadata={"mode": "extractive"}, level="WARNING")
                ended = True
                yield Token(fallback.text)
                yield Final(fallback.citations, None, None, "extractive", retrieval.mode, Usage())
                return
            answer = "".join(parts)
            await self._remember_turn(request, answer)
            trace.end(output=answer, metadata={"mode": "generated", "provider": provider, "model": model})
            ended = True
            yield Final(used_citations(answer, retrieval.hits), provider, model, "generated", retrieval.mode, usage)
        finally:
            if not ended:  # failed, or the client went away
                trace.end(level="ERROR", status_message="the answer was not completed")

    async def _remember_turn(self, request: ChatRequest, answer: str) -> None:
        if self.memory is not None and request.session_id and request.owner:
            await self.memory.append(request.owner, request.session_id, request.question, answer)

    async def answer(self, request: ChatRequest) -> ChatResult:
        parts: list[str] = []
        final: Final | None = None
        async for event in self.stream(request):
            if isinstance(event, Token):
                parts.append(event.text)
            else:
                final = event
        assert final is not None
        return ChatResult("".join(parts), final)
