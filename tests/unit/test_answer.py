from __future__ import annotations

import uuid

from app.core.errors import ProviderAuthError, ProviderServerError
from app.llm.base import GenerationParams, Message
from app.llm.cooldown import MemoryCooldowns
from app.llm.router import Router
from app.rag.answer import generate_answer
from app.store.search import Hit
from tests.helpers.fake_provider import FakeProvider

HITS = [Hit("n1", "Revenue grew 12% in 2023. Offices are in Oslo.", uuid.uuid4(), 3, 7, "report.pdf", 0.9)]
MESSAGES = [Message("user", "How much did revenue grow?")]


async def test_generated_answer_cites_its_passages() -> None:
    router = Router([FakeProvider("groq", default="It grew 12% [1].")], MemoryCooldowns())
    answer = await generate_answer(router, "How much did revenue grow?", MESSAGES, HITS, GenerationParams())
    assert (answer.mode, answer.text, answer.provider) == ("generated", "It grew 12% [1].", "groq")
    assert [(c.page, c.version, c.file_name) for c in answer.citations] == [(7, 3, "report.pdf")]


async def test_past_the_chain_the_answer_is_extractive_not_an_error() -> None:
    a = FakeProvider("gemini", retries=0).then(ProviderServerError("down"))
    b = FakeProvider("local", retries=0).then(ProviderAuthError("broken model file"))
    answer = await generate_answer(
        Router([a, b], MemoryCooldowns(), retry_backoff=0),
        "How much did revenue grow?",
        MESSAGES,
        HITS,
        GenerationParams(),
    )
    assert answer.mode == "extractive"
    assert answer.provider is None
    assert answer.citations[0].passage == "Revenue grew 12% in 2023."
    assert "(report.pdf, page 7)" in answer.text
