"""An answer from the LLM chain, or, past the chain, the extractive answer: never a bare error."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.errors import AllProvidersFailed
from app.core.logging import get_logger
from app.llm.base import GenerationParams, Message
from app.llm.router import Router
from app.rag.extractive import Answer, Citation, extractive_answer
from app.store.search import Hit

log = get_logger(__name__)


def citations_for(hits: Sequence[Hit]) -> list[Citation]:
    return [Citation(str(h.document_id), h.version, h.file_name, h.page, h.text, h.score) for h in hits]


async def generate_answer(
    router: Router,
    question: str,
    messages: Sequence[Message],
    hits: Sequence[Hit],
    params: GenerationParams,
    model: str | None = None,
) -> Answer:
    """The generated answer with its passages cited; if no provider can answer, the extractive one."""
    try:
        completion = await router.complete(messages, params, model)
    except AllProvidersFailed as exc:
        log.warning("no LLM could answer; answering extractively", attempts=exc.attempts)
        return extractive_answer(question, hits)
    return Answer(
        text=completion.text,
        mode="generated",
        citations=citations_for(hits),
        provider=completion.provider,
        model=completion.model,
    )
