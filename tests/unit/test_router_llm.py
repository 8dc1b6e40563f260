"""The router behind LlamaIndex's LLM interface: chat/complete, streaming, async and sync."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from app.core.errors import ProviderServerError
from app.llm.cooldown import MemoryCooldowns
from app.llm.llamaindex import RouterLLM
from app.llm.router import Router
from tests.helpers.fake_provider import FakeProvider

CHAT = [ChatMessage(role=MessageRole.SYSTEM, content="Use passages."), ChatMessage(role=MessageRole.USER, content="Q?")]


def llm(**kwargs: object) -> tuple[RouterLLM, FakeProvider, FakeProvider]:
    a = FakeProvider("gemini", retries=0, default="from gemini")
    b = FakeProvider("groq", default="from groq")
    return RouterLLM(Router([a, b], MemoryCooldowns(), retry_backoff=0.0), **kwargs), a, b


async def test_async_chat_and_stream_report_the_answering_provider() -> None:
    model, a, _ = llm()
    a.then(ProviderServerError("down"))
    response = await model.achat(CHAT)
    assert response.message.content == "from groq"
    assert response.raw["provider"] == "groq"
    assert response.raw["usage"]["completion_tokens"] == 2
    deltas = [r.delta async for r in await model.astream_chat(CHAT)]
    assert "".join(d or "" for d in deltas) == "from groq", "gemini is cooling down now"
    completion = await model.acomplete("Q?")
    assert completion.text == "from groq"
    pieces = [r.delta async for r in await model.astream_complete("Q?", model="groq")]
    assert "".join(p or "" for p in pieces) == "from groq"


def test_sync_forms_and_metadata() -> None:
    model, _, _ = llm(model="gemini", max_tokens=99)
    assert model.chat(CHAT).message.content == "from gemini"
    assert model.complete("Q?").text == "from gemini"
    assert "".join(r.delta or "" for r in model.stream_chat(CHAT)) == "from gemini"
    assert "".join(r.delta or "" for r in model.stream_complete("Q?")) == "from gemini"
    meta = model.metadata
    assert (meta.is_chat_model, meta.num_output, meta.model_name) == (True, 99, "router:gemini")


def test_sync_stream_raises_what_the_router_raises() -> None:
    model, a, b = llm(model="gemini")
    a.then(ProviderServerError("down"))
    from app.core.errors import AllProvidersFailed

    with pytest.raises(AllProvidersFailed):
        list(model.stream_chat(CHAT))
    assert b.calls == 0
